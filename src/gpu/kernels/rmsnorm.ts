// Launcher of shaders/rmsnorm.wgsl (layer norms, and the final norm of the output rows only).
import rmsnormWgsl from '../../../shaders/rmsnorm.wgsl?raw';
import type { DeviceClass } from '../device.ts';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';

const BINDINGS: BindingKind[] = ['uniform', 'read', 'read', 'read', 'rw'];

export async function createRmsNorm(
  device: GPUDevice,
  shape: { hidden: number; eps: number; rowIndexed: boolean; deviceClass: DeviceClass },
  b: { dims: GPUBuffer; x: GPUBuffer; weight: GPUBuffer; rowIndex: GPUBuffer; y: GPUBuffer },
): Promise<Launch> {
  const consts = wgslConsts({ H: shape.hidden, EPS: { f32: shape.eps }, ROW_INDEXED: shape.rowIndexed ? 1 : 0 });
  const cpu = shape.deviceClass === 'cpu';
  const pipeline = await computePipeline(device, `${consts}\n${rmsnormWgsl}`, cpu ? 'main_cpu' : 'main_gpu', BINDINGS);
  // cpu: one invocation per row; gpu: one workgroup per row.
  return launch(pipeline, bindGroup(device, BINDINGS, [b.dims, b.x, b.weight, b.rowIndex, b.y], 'rmsnorm'), (rows) => grid1D(rows, cpu ? 64 : 1));
}
