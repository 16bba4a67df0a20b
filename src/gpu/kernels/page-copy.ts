// Launcher of shaders/page-copy.wgsl (runner.copyPages). It copies bytes in 16-byte units, so it serves
// f32 and packed f16 K/V alike.
import pageCopyWgsl from '../../../shaders/page-copy.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';

const BINDINGS: BindingKind[] = ['uniform', 'read', 'rw'];

/** pageBytes: bytes of one page, a multiple of 16. */
export async function createPageCopy(device: GPUDevice, pageBytes: number, b: { dims: GPUBuffer; pairs: GPUBuffer; kv: GPUBufferBinding }): Promise<Launch> {
  if (pageBytes % 16 !== 0) throw new RangeError(`page-copy: page of ${pageBytes} bytes is not a multiple of 16`);
  const pageVec4 = pageBytes / 16;
  const pipeline = await computePipeline(device, `${wgslConsts({ PAGE_VEC4: pageVec4 })}\n${pageCopyWgsl}`, 'main', BINDINGS);
  return launch(pipeline, bindGroup(device, BINDINGS, [b.dims, b.pairs, b.kv], 'page-copy'), (pairs) => grid1D(pairs * pageVec4));
}
