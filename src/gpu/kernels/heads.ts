// Launcher of shaders/heads.wgsl: the element-wise ends of the verifier heads.
import headsWgsl from '../../../shaders/heads.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';

const BINDINGS: BindingKind[] = ['uniform', 'rw', 'rw'];

export type HeadOp = 'sigmoid_rows' | 'relu' | 'softmax2';

export async function createHeadOp(device: GPUDevice, op: HeadOp, cols: number, b: { dims: GPUBuffer; v: GPUBuffer; score: GPUBuffer }): Promise<Launch> {
  const pipeline = await computePipeline(device, `${wgslConsts({ COLS: cols })}\n${headsWgsl}`, op, BINDINGS);
  return launch(pipeline, bindGroup(device, BINDINGS, [b.dims, b.v, b.score], op), (rows) => grid1D(op === 'relu' ? rows * cols : rows));
}
