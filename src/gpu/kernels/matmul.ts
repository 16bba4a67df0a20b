// Launcher of shaders/matmul.wgsl: y = x W^T + bias, W a packed GpuMatrix; optionally of RMSNorm(x),
// added into y, or as silu(x W^T) * (x W_up^T).
// Two variants per device class, chosen per call by row count, with identical per-element arithmetic
// (see the shader): decode (1 row per tile) and prefill (PREFILL_TILE rows share each weight decode).
import dequantWgsl from '../../../shaders/dequant.wgsl?raw';
import matmulWgsl from '../../../shaders/matmul.wgsl?raw';
import { placeholderBuffer } from '../buffers.ts';
import type { DeviceClass } from '../device.ts';
import { bindGroup, computePipeline, GRID_MAX, wgslConsts, type BindingKind, type Launch } from '../pipelines.ts';
import { FORMAT_CODE } from '../quant.ts';
import type { GpuMatrix } from '../weights.ts';

const BINDINGS: BindingKind[] = ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'read', 'rw'];
export const PREFILL_TILE: Record<DeviceClass, number> = { cpu: 4, gpu: 8 };
/** Output columns per workgroup of the gpu variant (CPW in the shader). */
const GPU_COLUMNS_PER_WORKGROUP = 8;

export interface MatmulSpec {
  matrix: GpuMatrix;
  deviceClass: DeviceClass;
  hasBias: boolean;
  /** Add into y instead of overwriting it (fuses the residual add). */
  accumulate: boolean;
  /** RMSNorm x first (fuses the layer norm): its epsilon; the weight is bound as `norm`. */
  normEps?: number;
  /** SwiGLU: `matrix` is the gate projection, this the up projection (same shape and parts); the output
   *  is silu(gate) * up (fuses the MLP activation). */
  up?: GpuMatrix;
}

export interface MatmulBuffers {
  dims: GPUBuffer;
  x: GPUBuffer;
  bias?: GPUBuffer;
  /** The RMSNorm weight, when spec.normEps is set. */
  norm?: GPUBuffer;
  y: GPUBuffer;
}

export interface Matmul {
  bind(b: MatmulBuffers): Launch;
}

function source(spec: MatmulSpec, part: { rowStart: number; rows: number }, rowsPerTile: number): string {
  const consts = wgslConsts({
    K: spec.matrix.cols,
    N: part.rows,
    N_OFFSET: part.rowStart,
    OUT_STRIDE: spec.matrix.rows,
    FORMAT: FORMAT_CODE[spec.matrix.format],
    ROWS_PER_TILE: rowsPerTile,
    HAS_BIAS: spec.hasBias ? 1 : 0,
    ACCUMULATE: spec.accumulate ? 1 : 0,
    NORM: spec.normEps === undefined ? 0 : 1,
    GLU: spec.up ? 1 : 0,
    EPS: { f32: spec.normEps ?? 0 },
    GRID_X: Math.min(Math.ceil(part.rows / GPU_COLUMNS_PER_WORKGROUP), GRID_MAX),
  });
  return `${consts}\n${dequantWgsl}\n${dequantUpWgsl}\n${matmulWgsl}`;
}

/** dequant.wgsl again, for the up projection's bindings (w_up, scales_up) under _up function names. */
const dequantUpWgsl = dequantWgsl
  .replace(/^const (GROUPS|SCALE_WORDS).*$/gm, '')
  .replace(/\bw\[/g, 'w_up[')
  .replace(/\bscales\[/g, 'scales_up[')
  .replace(/\bdecode_group\b/g, 'decode_group_up')
  .replace(/\bgroup_scale\b/g, 'group_scale_up');

export async function createMatmul(device: GPUDevice, spec: MatmulSpec): Promise<Matmul> {
  if (spec.matrix.cols % 32 !== 0) throw new RangeError(`matmul needs K divisible by 32, got ${spec.matrix.cols}`);
  const up = spec.up;
  if (
    up &&
    (up.format !== spec.matrix.format || up.rows !== spec.matrix.rows || up.cols !== spec.matrix.cols || up.parts.length !== spec.matrix.parts.length)
  ) {
    throw new RangeError("matmul: the up projection must have the gate projection's shape, format and parts");
  }
  const entry = spec.deviceClass === 'cpu' ? 'main_cpu' : 'main_gpu';
  const tile = PREFILL_TILE[spec.deviceClass];
  const parts = await Promise.all(
    spec.matrix.parts.map(async (part, i) => ({
      part,
      upPart: up?.parts[i],
      decode: await computePipeline(device, source(spec, part, 1), entry, BINDINGS),
      prefill: await computePipeline(device, source(spec, part, tile), entry, BINDINGS),
    })),
  );
  return {
    bind(b) {
      if ((spec.normEps !== undefined) !== (b.norm !== undefined)) throw new RangeError('matmul: a norm weight goes with normEps');
      const none = placeholderBuffer(device);
      const groups = parts.map(({ part, upPart, decode, prefill }) => ({
        part,
        decode,
        prefill,
        group: bindGroup(
          device,
          BINDINGS,
          [b.dims, b.x, part.data, part.scales, b.bias ?? none, b.norm ?? none, upPart?.data ?? none, upPart?.scales ?? none, b.y],
          'matmul',
        ),
      }));
      return {
        encode(pass, rows) {
          if (rows === 0) return;
          const rowsPerTile = rows < tile ? 1 : tile;
          const tiles = Math.ceil(rows / rowsPerTile);
          for (const g of groups) {
            pass.setPipeline(rowsPerTile === 1 ? g.decode : g.prefill);
            pass.setBindGroup(0, g.group);
            if (spec.deviceClass === 'cpu') {
              pass.dispatchWorkgroups(Math.ceil(g.part.rows / 64), tiles, 1);
            } else {
              const groups = Math.ceil(g.part.rows / GPU_COLUMNS_PER_WORKGROUP);
              const gx = Math.min(groups, GRID_MAX);
              pass.dispatchWorkgroups(gx, Math.ceil(groups / gx), tiles);
            }
          }
        },
      };
    },
  };
}
