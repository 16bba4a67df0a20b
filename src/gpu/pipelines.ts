// Compute pipelines from WGSL text with baked-in constants, cached per device; explicit bind group
// layouts (so a binding a variant does not read still validates); dispatch-grid helpers.
export type BindingKind = 'uniform' | 'read' | 'rw';

/** WGSL `const` declarations prepended to a kernel: integers become u32, `{ f32: x }` becomes f32. */
export function wgslConsts(values: Record<string, number | { f32: number }>): string {
  return Object.entries(values)
    .map(([name, v]) => {
      if (typeof v === 'number') {
        if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`const ${name} = ${v} is not a u32`);
        return `const ${name}: u32 = ${v}u;`;
      }
      if (!Number.isFinite(v.f32)) throw new RangeError(`const ${name} = ${v.f32} is not finite`);
      return `const ${name}: f32 = ${v.f32.toExponential(9)};`;
    })
    .join('\n');
}

interface DeviceCache {
  layouts: Map<string, GPUBindGroupLayout>;
  pipelines: Map<string, Promise<GPUComputePipeline>>;
}
const caches = new WeakMap<GPUDevice, DeviceCache>();

function cacheOf(device: GPUDevice): DeviceCache {
  let c = caches.get(device);
  if (!c) {
    c = { layouts: new Map(), pipelines: new Map() };
    caches.set(device, c);
  }
  return c;
}

export function bindGroupLayout(device: GPUDevice, kinds: BindingKind[]): GPUBindGroupLayout {
  const key = kinds.join(',');
  const c = cacheOf(device);
  let layout = c.layouts.get(key);
  if (!layout) {
    layout = device.createBindGroupLayout({
      entries: kinds.map((kind, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: kind === 'uniform' ? 'uniform' : kind === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    c.layouts.set(key, layout);
  }
  return layout;
}

/** A compute pipeline for `code` (the full module text) and `entryPoint`, compiled once per device. */
export function computePipeline(device: GPUDevice, code: string, entryPoint: string, kinds: BindingKind[]): Promise<GPUComputePipeline> {
  const key = `${entryPoint}\u0000${kinds.join(',')}\u0000${code}`;
  const c = cacheOf(device);
  let p = c.pipelines.get(key);
  if (!p) {
    const module = device.createShaderModule({ code });
    const layout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout(device, kinds)] });
    p = device.createComputePipelineAsync({ layout, compute: { module, entryPoint } });
    c.pipelines.set(key, p);
    p.catch(() => c.pipelines.delete(key));
  }
  return p;
}

export function bindGroup(device: GPUDevice, kinds: BindingKind[], buffers: Array<GPUBuffer | GPUBufferBinding>, label?: string): GPUBindGroup {
  if (buffers.length !== kinds.length) throw new RangeError(`bind group ${label ?? ''}: ${buffers.length} buffers for ${kinds.length} bindings`);
  return device.createBindGroup({
    label,
    layout: bindGroupLayout(device, kinds),
    entries: buffers.map((b, binding) => ({ binding, resource: 'buffer' in b ? b : { buffer: b } })),
  });
}

/** Workgroups per dimension in the 1-D-over-2-D scheme the kernels decode as gid.y * 65535 * 64 + gid.x. */
export const GRID_MAX = 65535;
export function grid1D(invocations: number, workgroupSize = 64): [number, number, number] {
  const groups = Math.ceil(invocations / workgroupSize);
  if (groups <= GRID_MAX) return [groups, 1, 1];
  return [GRID_MAX, Math.ceil(groups / GRID_MAX), 1];
}

/** One recorded kernel launch whose grid depends on the number of rows of the forward call. */
export interface Launch {
  encode(pass: GPUComputePassEncoder, rows: number): void;
}

export function launch(pipeline: GPUComputePipeline, group: GPUBindGroup, grid: (rows: number) => [number, number, number]): Launch {
  return {
    encode(pass, rows) {
      const [x, y, z] = grid(rows);
      if (x === 0 || y === 0 || z === 0) return;
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(x, y, z);
    },
  };
}
