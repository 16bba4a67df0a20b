// Acquires a WebGPU device in the browser (navigator.gpu) or in Node (the `webgpu` package, Dawn), picks
// the fastest route when there is no hardware GPU, and reports what it got. The kernels choose their
// variants from `deviceClass`: CPU devices (llvmpipe, SwiftShader) want barrier-free kernels with one
// output per invocation; GPUs want cooperative workgroup reductions.
import { DeviceLostError, NoGpuError } from '../errors.ts';
import { inNode } from '../platform.ts';
import { vulkanLoaderMissing } from './vulkan-loader.ts';

export type DeviceClass = 'cpu' | 'gpu';

export interface GpuContext {
  device: GPUDevice;
  /** How the device was reached, e.g. "node-dawn-default/core" or "node-dawn-opengles/compatibility" or "browser/core". */
  route: string;
  featureLevel: 'core' | 'compatibility';
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  features: string[];
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxStorageBuffersPerShaderStage: number;
    maxComputeWorkgroupsPerDimension: number;
    minStorageBufferOffsetAlignment: number;
  };
  deviceClass: DeviceClass;
  /** `shader-f16` was granted (not used by the kernels yet: they compute in f32 everywhere). */
  hasF16: boolean;
  /** Set once the device is lost; every later (and in-flight) engine call throws it. */
  lostError: DeviceLostError | null;
  /** The GPU object (navigator.gpu or Dawn's instance), kept alive with the device. */
  instance: GPU;
  /** Throws the DeviceLostError if the device has been lost. */
  assertAlive(): void;
  destroy(): void;
}

export interface DeviceOptions {
  /** Force a device class (tests use 'gpu' on llvmpipe to check the cooperative kernels). */
  deviceClass?: DeviceClass;
  powerPreference?: GPUPowerPreference;
}

const CPU_ADAPTER = /llvmpipe|lavapipe|swiftshader|softpipe|software|microsoft basic render/i;

export function classifyAdapter(info: { vendor?: string; architecture?: string; device?: string; description?: string }): DeviceClass {
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  return CPU_ADAPTER.test(text) ? 'cpu' : 'gpu';
}

interface AdapterChoice {
  /** The GPU object the adapter came from: held for the device's lifetime (Dawn's Node instance must not be
   *  garbage-collected while its device is in use, or pending promises never settle). */
  instance: GPU;
  adapter: GPUAdapter;
  route: string;
  featureLevel: 'core' | 'compatibility';
  /** Chosen as the faster CPU route although its adapter info does not say so (Chromium's llvmpipe). */
  cpuFallback?: boolean;
}

async function tryAdapter(gpu: GPU, routePrefix: string, power: GPUPowerPreference | undefined): Promise<AdapterChoice | null> {
  for (const featureLevel of ['core', 'compatibility'] as const) {
    let adapter: GPUAdapter | null = null;
    try {
      adapter = await gpu.requestAdapter({ featureLevel, powerPreference: power } as GPURequestAdapterOptions);
    } catch {
      adapter = null;
    }
    if (adapter) return { instance: gpu, adapter, route: `${routePrefix}/${featureLevel}`, featureLevel };
  }
  return null;
}

/** Node: Dawn's default backend when it reaches a hardware GPU; otherwise Dawn's OpenGL ES backend on
 *  Mesa llvmpipe (the fastest CPU route measured; Dawn on SwiftShader Vulkan crashes, so never that). */
async function nodeAdapter(power: GPUPowerPreference | undefined): Promise<AdapterChoice> {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (env && env.EGL_PLATFORM === undefined) env.EGL_PLATFORM = 'surfaceless';
  const moduleName = 'webgpu';
  let mod: { create(options: string[]): GPU; globals: object };
  try {
    mod = await import(/* @vite-ignore */ moduleName);
  } catch (e) {
    throw new NoGpuError(`the "webgpu" package could not be loaded: ${(e as Error).message.split('\n')[0]}`);
  }
  Object.assign(globalThis, mod.globals);
  // FASTTTS_NODE_BACKEND=opengles skips probing Dawn's default backend; =default uses only that. Auto
  // skips it where it can only fail noisily (Linux without the Vulkan loader).
  const backend = env?.FASTTTS_NODE_BACKEND ?? 'auto';
  if (!['auto', 'default', 'opengles'].includes(backend)) throw new NoGpuError(`FASTTTS_NODE_BACKEND must be auto, default or opengles, got "${backend}"`);
  const probeDefault = backend === 'default' || (backend === 'auto' && !vulkanLoaderMissing());
  const hardware = probeDefault ? await tryAdapter(mod.create([]), 'node-dawn-default', power) : null;
  if (backend === 'default') {
    if (!hardware) throw new NoGpuError("no WebGPU adapter on Dawn's default backend (FASTTTS_NODE_BACKEND=default)");
    return hardware;
  }
  if (hardware && classifyAdapter(hardware.adapter.info) === 'gpu') return hardware;
  const gles = await tryAdapter(mod.create(['backend=opengles']), 'node-dawn-opengles', power);
  if (gles) return gles;
  if (hardware) return hardware;
  throw new NoGpuError('no WebGPU adapter: no hardware GPU and no OpenGL ES route (install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)');
}

async function chooseAdapter(power: GPUPowerPreference | undefined): Promise<AdapterChoice> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) {
    const choice = await tryAdapter(nav.gpu, 'browser', power);
    if (!choice) throw new NoGpuError('navigator.gpu returned no adapter (WebGPU disabled or no usable GPU)');
    // Chromium without a GPU offers SwiftShader (core) and, with ANGLE on Mesa EGL, llvmpipe
    // (compatibility, empty adapter info). Measured in headless Chromium on the CPU route, decode of a
    // 4-layer hidden-256 model: 6-7 ms (batch 1) and 20-29 ms (batch 8) on the compatibility adapter
    // against 21-27 ms and 139-238 ms on SwiftShader, so prefer it, as a CPU device.
    if (choice.featureLevel === 'core' && classifyAdapter(choice.adapter.info) === 'cpu') {
      const compat = await nav.gpu.requestAdapter({ featureLevel: 'compatibility', powerPreference: power } as GPURequestAdapterOptions).catch(() => null);
      if (compat && compat.info.architecture !== choice.adapter.info.architecture)
        return { instance: nav.gpu, adapter: compat, route: 'browser/compatibility', featureLevel: 'compatibility', cpuFallback: true };
    }
    return choice;
  }
  if (!inNode()) throw new NoGpuError('WebGPU is not available in this environment (no navigator.gpu)');
  return nodeAdapter(power);
}

/** Acquires a device with the limits the engine needs (as high as the adapter allows). */
export async function createGpu(options: DeviceOptions = {}): Promise<GpuContext> {
  const { instance, adapter, route, featureLevel, cpuFallback } = await chooseAdapter(options.powerPreference);
  const a = adapter.limits;
  const requiredFeatures: GPUFeatureName[] = [];
  const hasF16 = adapter.features.has('shader-f16');
  if (hasF16) requiredFeatures.push('shader-f16');
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: a.maxStorageBufferBindingSize,
    maxBufferSize: a.maxBufferSize,
    maxStorageBuffersPerShaderStage: a.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: a.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: a.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: a.maxComputeWorkgroupSizeX,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new NoGpuError(`requestDevice failed on ${route}: ${(e as Error).message.split('\n')[0]}`);
  }
  const info = adapter.info;
  const adapterInfo = { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '' };
  const ctx: GpuContext = {
    device,
    route,
    featureLevel,
    adapterInfo,
    features: [...device.features].map(String).sort(),
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: device.limits.minStorageBufferOffsetAlignment,
    },
    deviceClass: options.deviceClass ?? (cpuFallback ? 'cpu' : classifyAdapter(adapterInfo)),
    hasF16,
    lostError: null,
    instance,
    assertAlive() {
      if (ctx.lostError) throw ctx.lostError;
    },
    destroy() {
      device.destroy();
    },
  };
  void device.lost.then((lost) => {
    ctx.lostError = new DeviceLostError(lost.reason ?? 'unknown', lost.message?.split('\n')[0] || 'the device is gone; create the engine again');
  });
  return ctx;
}

/** One line naming the route and adapter, for logs and benchmark reports. */
export function describeGpu(g: GpuContext): string {
  const name = g.adapterInfo.device || g.adapterInfo.description || g.adapterInfo.vendor || 'an adapter that does not name itself';
  return `${g.route} on ${name} (${g.deviceClass} device${g.hasF16 ? ', shader-f16' : ''})`;
}
