// Launcher of shaders/attention.wgsl: causal paged grouped-query attention for prefill and decode.
import attentionWgsl from '../../../shaders/attention.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';
import { kvConsts, type KvShape } from './kv-write.ts';

const BINDINGS: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'read', 'read', 'rw'];

export async function createAttention(
  device: GPUDevice,
  shape: KvShape,
  b: { dims: GPUBuffer; layer: GPUBuffer; rowInfo: GPUBuffer; blockTables: GPUBuffer; qkv: GPUBuffer; kv: GPUBufferBinding; out: GPUBuffer },
): Promise<Launch> {
  const code = `${kvConsts(shape)}\n${wgslConsts({ SCALE: { f32: 1 / Math.sqrt(shape.headDim) } })}\n${attentionWgsl}`;
  const pipeline = await computePipeline(device, code, 'main', BINDINGS);
  const group = bindGroup(device, BINDINGS, [b.dims, b.layer, b.rowInfo, b.blockTables, b.qkv, b.kv, b.out], 'attention');
  return launch(pipeline, group, (rows) => grid1D(rows * shape.numHeads));
}
