// Launcher of shaders/rope-kv.wgsl (RoPE on q and k, k and v into the paged KV cache), and the cos/sin
// table it reads.
import ropeKvWgsl from '../../../shaders/rope-kv.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';
import { kvWriteWgsl, type KvDtype } from '../kv-dtype.ts';

const BINDINGS: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'read', 'rw', 'rw'];

export interface KvShape {
  headDim: number;
  numHeads: number;
  numKvHeads: number;
  pageSize: number;
  /** Elements of one page (all layers, K and V), whatever their storage type. */
  pageFloats: number;
  /** How elements are stored (src/gpu/kv-dtype.ts); default f32. */
  dtype?: KvDtype;
}

export function kvConsts(s: KvShape): string {
  return wgslConsts({ D: s.headDim, HQ: s.numHeads, HKV: s.numKvHeads, PAGE_SIZE: s.pageSize, PAGE_FLOATS: s.pageFloats });
}

/** [position][i] -> (cos, sin) of position * inv_freq[i], as Hugging Face computes them in f32:
 *  inv_freq = 1 / theta^(2i / headDim) rounded to f32, the angle rounded to f32, then cos/sin rounded. */
export function ropeTable(headDim: number, theta: number, positions: number): Float32Array {
  const half = headDim / 2;
  const table = new Float32Array(positions * half * 2);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.fround(1 / Math.pow(theta, (2 * i) / headDim));
    for (let p = 0; p < positions; p++) {
      const angle = Math.fround(p * invFreq);
      table[(p * half + i) * 2] = Math.fround(Math.cos(angle));
      table[(p * half + i) * 2 + 1] = Math.fround(Math.sin(angle));
    }
  }
  return table;
}

export async function createRopeKv(
  device: GPUDevice,
  shape: KvShape,
  b: { dims: GPUBuffer; layer: GPUBuffer; rowInfo: GPUBuffer; blockTables: GPUBuffer; table: GPUBuffer; qkv: GPUBuffer; kv: GPUBufferBinding },
): Promise<Launch> {
  const pipeline = await computePipeline(device, `${kvConsts(shape)}\n${kvWriteWgsl(shape.dtype ?? 'f32', 6)}\n${ropeKvWgsl}`, 'main', BINDINGS);
  const group = bindGroup(device, BINDINGS, [b.dims, b.layer, b.rowInfo, b.blockTables, b.table, b.qkv, b.kv], 'rope-kv');
  const perRow = (shape.numHeads + shape.numKvHeads) * (shape.headDim / 2);
  return launch(pipeline, group, (rows) => grid1D(rows * perRow));
}
