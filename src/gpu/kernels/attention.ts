// Launcher of shaders/attention.wgsl: causal paged grouped-query attention for prefill and decode.
import attentionWgsl from '../../../shaders/attention.wgsl?raw';
import type { DeviceClass } from '../device.ts';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';
import { kvConsts, type KvShape } from './rope-kv.ts';
import { kvReadWgsl } from '../kv-dtype.ts';

const BINDINGS: BindingKind[] = ['uniform', 'uniform', 'read', 'read', 'read', 'read', 'rw'];

export async function createAttention(
  device: GPUDevice,
  deviceClass: DeviceClass,
  shape: KvShape,
  b: { dims: GPUBuffer; layer: GPUBuffer; rowInfo: GPUBuffer; blockTables: GPUBuffer; qkv: GPUBuffer; kv: GPUBufferBinding; out: GPUBuffer },
): Promise<Launch> {
  const code = `${kvConsts(shape)}\n${wgslConsts({ SCALE: { f32: 1 / Math.sqrt(shape.headDim) } })}\n${kvReadWgsl(shape.dtype ?? 'f32', 5)}\n${attentionWgsl}`;
  const pipeline = await computePipeline(device, code, deviceClass === 'cpu' ? 'main_cpu' : 'main_gpu', BINDINGS);
  const group = bindGroup(device, BINDINGS, [b.dims, b.layer, b.rowInfo, b.blockTables, b.qkv, b.kv, b.out], 'attention');
  // cpu: one invocation per (row, head); gpu: one workgroup per (row, head).
  return launch(pipeline, group, (rows) => (deviceClass === 'cpu' ? grid1D(rows * shape.numHeads) : grid1D(rows * shape.numHeads, 1)));
}
