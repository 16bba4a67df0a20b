// Launcher of shaders/embedding.wgsl: gathers (and dequantizes) the embedding rows of the batch's tokens.
import dequantWgsl from '../../../shaders/dequant.wgsl?raw';
import embeddingWgsl from '../../../shaders/embedding.wgsl?raw';
import { bindGroup, computePipeline, grid1D, launch, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';
import { FORMAT_CODE } from '../quant.ts';
import type { GpuMatrix } from '../weights.ts';

const BINDINGS: BindingKind[] = ['uniform', 'read', 'read', 'read', 'rw'];

export async function createEmbedding(device: GPUDevice, matrix: GpuMatrix, b: { dims: GPUBuffer; rowInfo: GPUBuffer; out: GPUBuffer }): Promise<Launch> {
  const groups = matrix.cols / 32;
  const launches = await Promise.all(
    matrix.parts.map(async (part) => {
      const consts = wgslConsts({ K: matrix.cols, N: part.rows, ROW_OFFSET: part.rowStart, FORMAT: FORMAT_CODE[matrix.format] });
      const pipeline = await computePipeline(device, `${consts}\n${dequantWgsl}\n${embeddingWgsl}`, 'main', BINDINGS);
      const group = bindGroup(device, BINDINGS, [b.dims, b.rowInfo, part.data, part.scales, b.out], 'embedding');
      return launch(pipeline, group, (rows) => grid1D(rows * groups));
    }),
  );
  return { encode: (pass, rows) => launches.forEach((l) => l.encode(pass, rows)) };
}
