// Which route runs the models: WebGPU (the WGSL kernels) on a GPU adapter, the CPU route (WebAssembly
// SIMD kernels, wasm-runner.ts) where the only adapter is a CPU (llvmpipe, SwiftShader: a GPU program
// emulated on the CPU runs ~10x slower than the same work compiled for it) or there is no WebGPU.
// The engine, the benchmarks and the checks all open a route here and create runners through it.
import { NoGpuError, OptionError } from '../errors.ts';
import { createGpu, describeGpu, type GpuContext } from '../gpu/device.ts';
import { availableThreads, createWasmKernels, type WasmKernels } from '../cpu/wasm-module.ts';
import type { ModelSource } from '../model/source.ts';
import { createWasmRunner, type WasmRunnerOptions } from './wasm-runner.ts';
import { createWebGpuRunner, type WebGpuRunnerOptions } from './webgpu-runner.ts';
import type { ModelRunner } from './types.ts';

export type RouteChoice = 'auto' | 'webgpu' | 'cpu';
export const ROUTE_CHOICES: readonly RouteChoice[] = ['auto', 'webgpu', 'cpu'];

/** An opened route, with one line saying which and why. */
export type Route = ({ kind: 'webgpu'; gpu: GpuContext } | { kind: 'cpu'; kernels: WasmKernels }) & { describe: string };

/**
 * Opens the route asked for; 'auto' takes WebGPU only on a GPU-class adapter. `threads`: the CPU route's
 * threads (default: the machine's, up to 8; one where memory cannot be shared, e.g. a page that is not
 * cross-origin isolated).
 */
export async function openRoute(choice: RouteChoice = 'auto', options: { threads?: number } = {}): Promise<Route> {
  if (!ROUTE_CHOICES.includes(choice)) throw new OptionError(`route must be "auto", "webgpu" or "cpu", got "${String(choice)}"`);
  const cpu = async (why: string): Promise<Route> => {
    const kernels = await createWasmKernels({ threads: options.threads ?? (await availableThreads()) });
    const threads = kernels.pool.threads;
    return {
      kind: 'cpu',
      kernels,
      describe: `cpu: WebAssembly SIMD${kernels.relaxed ? ' (relaxed)' : ''}, ${threads} thread${threads > 1 ? 's' : ''} (${why})`,
    };
  };
  if (choice === 'cpu') return cpu('asked for');
  let gpu: GpuContext;
  try {
    gpu = await createGpu();
  } catch (e) {
    if (choice === 'auto' && e instanceof NoGpuError) return cpu(`no WebGPU adapter: ${e.message}`);
    throw e;
  }
  if (choice === 'auto' && gpu.deviceClass === 'cpu') {
    const adapter = describeGpu(gpu);
    gpu.destroy();
    return cpu(`the WebGPU adapter is a CPU: ${adapter}`);
  }
  return { kind: 'webgpu', gpu, describe: `webgpu: ${describeGpu(gpu)}` };
}

export function closeRoute(route: Route): void {
  if (route.kind === 'webgpu') route.gpu.destroy();
  else route.kernels.dispose();
}

export type RouteRunner = ModelRunner & { readonly weightBytes: number };

/** A runner of `source` on the route; `kv` is a region of the route's KV arena (gpu-arena.ts or wasm-arena.ts). */
export function createRouteRunner(
  route: Route,
  source: ModelSource,
  options: Omit<WebGpuRunnerOptions & WasmRunnerOptions, 'kv'> & { kv?: WebGpuRunnerOptions['kv'] | WasmRunnerOptions['kv'] },
): Promise<RouteRunner> {
  const { kv, ...rest } = options;
  return route.kind === 'webgpu'
    ? createWebGpuRunner(route.gpu, source, { ...rest, kv: kv as WebGpuRunnerOptions['kv'] })
    : createWasmRunner(source, { ...rest, kv }, route.kernels);
}
