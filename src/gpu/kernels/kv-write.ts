// Launcher of shaders/kv-write.wgsl: the new tokens' K/V into their pages, through the block tables.
import kvWriteWgsl from '../../../shaders/kv-write.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';

const BINDINGS: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'read', 'rw'];

export interface KvShape {
  headDim: number;
  numHeads: number;
  numKvHeads: number;
  pageSize: number;
  /** f32 elements of one page (all layers, K and V). */
  pageFloats: number;
}

export function kvConsts(s: KvShape): string {
  return wgslConsts({ D: s.headDim, HQ: s.numHeads, HKV: s.numKvHeads, PAGE_SIZE: s.pageSize, PAGE_FLOATS: s.pageFloats });
}

export async function createKvWrite(
  device: GPUDevice,
  shape: KvShape,
  b: { dims: GPUBuffer; layer: GPUBuffer; rowInfo: GPUBuffer; blockTables: GPUBuffer; qkv: GPUBuffer; kv: GPUBufferBinding },
): Promise<Launch> {
  const pipeline = await computePipeline(device, `${kvConsts(shape)}\n${kvWriteWgsl}`, 'main', BINDINGS);
  const group = bindGroup(device, BINDINGS, [b.dims, b.layer, b.rowInfo, b.blockTables, b.qkv, b.kv], 'kv-write');
  const perRow = shape.numKvHeads * (shape.headDim / 4);
  return launch(pipeline, group, (rows) => grid1D(rows * perRow));
}
