// Launcher of shaders/swiglu.wgsl.
import swigluWgsl from '../../../shaders/swiglu.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';

const BINDINGS: BindingKind[] = ['uniform', 'read', 'rw'];

export async function createSwiGlu(device: GPUDevice, intermediate: number, b: { dims: GPUBuffer; gateUp: GPUBuffer; act: GPUBuffer }): Promise<Launch> {
  const pipeline = await computePipeline(device, `${wgslConsts({ I: intermediate })}\n${swigluWgsl}`, 'main', BINDINGS);
  return launch(pipeline, bindGroup(device, BINDINGS, [b.dims, b.gateUp, b.act], 'swiglu'), (rows) => grid1D(rows * intermediate));
}
