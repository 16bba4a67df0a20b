// Launcher of shaders/page-copy.wgsl (runner.copyPages).
import pageCopyWgsl from '../../../shaders/page-copy.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';

const BINDINGS: BindingKind[] = ['uniform', 'read', 'rw'];

export async function createPageCopy(device: GPUDevice, pageFloats: number, b: { dims: GPUBuffer; pairs: GPUBuffer; kv: GPUBufferBinding }): Promise<Launch> {
  const pageVec4 = pageFloats / 4;
  const pipeline = await computePipeline(device, `${wgslConsts({ PAGE_VEC4: pageVec4 })}\n${pageCopyWgsl}`, 'main', BINDINGS);
  return launch(pipeline, bindGroup(device, BINDINGS, [b.dims, b.pairs, b.kv], 'page-copy'), (pairs) => grid1D(pairs * pageVec4));
}
