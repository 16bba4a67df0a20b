// Launcher of shaders/rope.wgsl, and the cos/sin table it reads.
import ropeWgsl from '../../../shaders/rope.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';

const BINDINGS: BindingKind[] = ['uniform', 'read', 'read', 'rw'];

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

export async function createRope(
  device: GPUDevice,
  shape: { headDim: number; numHeads: number; numKvHeads: number },
  b: { dims: GPUBuffer; rowInfo: GPUBuffer; table: GPUBuffer; qkv: GPUBuffer },
): Promise<Launch> {
  const consts = wgslConsts({ D: shape.headDim, HQ: shape.numHeads, HKV: shape.numKvHeads });
  const pipeline = await computePipeline(device, `${consts}\n${ropeWgsl}`, 'main', BINDINGS);
  const perRow = (shape.numHeads + shape.numKvHeads) * (shape.headDim / 2);
  return launch(pipeline, bindGroup(device, BINDINGS, [b.dims, b.rowInfo, b.table, b.qkv], 'rope'), (rows) => grid1D(rows * perRow));
}
