// Named hardware profiles for the roofline cost model, and a 'measured' profile fitted from timings
// taken on the current device. Peak figures are the vendors' published numbers; the achieved
// fractions say how much of them a WebGPU kernel realistically reaches (no tensor-core intrinsics in
// WGSL, so dense matmuls run on the ordinary FP32/FP16 ALUs, and decode reads stream at ~80% of peak).
import { OptionError } from '../errors.ts';

export interface HardwareProfile {
  /** Stable id: rtx4090, m2, laptop-igpu, h200, measured. */
  name: string;
  /** One line for reports. */
  label: string;
  /** Device memory in bytes (for the iGPU/M2: the share a browser tab can realistically get). */
  memoryBytes: number;
  /** Peak device-memory bandwidth, bytes/s. */
  bandwidth: number;
  /** Peak dense matmul rate the engine's WGSL kernels can use (ordinary FP32/FP16 ALUs), FLOP/s. */
  peakFlops: number;
  /**
   * Peak dense fp16 tensor-core rate with fp32 accumulate, FLOP/s, where the device has tensor cores: what
   * a CUDA stack (the paper's vLLM baseline and FastTTS) reaches and WGSL cannot. See withTensorCores().
   */
  tensorPeakFlops?: number;
  /** Fraction of `bandwidth` a streaming kernel achieves. */
  bandwidthEfficiency: number;
  /** Fraction of `peakFlops` a tiled matmul achieves. */
  computeEfficiency: number;
  /** Cost of one compute dispatch inside a command buffer, ms. */
  dispatchMs: number;
  /** Fixed cost of one forward call: submit, and the read-back of outputs, ms. */
  callMs: number;
  /** Host <-> device copy bandwidth (PCIe, or unified memory), bytes/s: prices KV offloading. */
  hostLinkBandwidth: number;
  /**
   * Last-level (L2) cache, bytes, where published: K/V pages that several sequences of one call share
   * (a common prefix) are read from DRAM once and then hit the cache while a layer's distinct K/V fits
   * (cost-model.ts). Absent: every sequence's K/V is priced as a DRAM read.
   */
  l2Bytes?: number;
}

const GB = 1e9;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const TFLOPS = 1e12;

export const HARDWARE_PROFILES: Readonly<Record<string, HardwareProfile>> = {
  // RTX 4090 (Ada whitepaper): 24 GiB GDDR6X at 1008 GB/s; 82.6 TFLOP/s on the ordinary FP32 (and
  // non-tensor FP16) ALUs, which is what the WGSL kernels use; dense fp16 tensor cores 165.2 TFLOP/s with
  // fp32 accumulate (330.3 with fp16 accumulate), which cuBLAS/vLLM use for f16 matmuls.
  rtx4090: {
    name: 'rtx4090',
    label: 'NVIDIA RTX 4090 24 GB (profile)',
    memoryBytes: 24 * GiB,
    bandwidth: 1008 * GB,
    peakFlops: 82.6 * TFLOPS,
    tensorPeakFlops: 165.2 * TFLOPS,
    bandwidthEfficiency: 0.8,
    computeEfficiency: 0.5,
    dispatchMs: 0.004,
    callMs: 0.15,
    hostLinkBandwidth: 25 * GB,
    l2Bytes: 72 * MiB,
  },
  // Apple M2 (10-core GPU): 100 GB/s unified LPDDR5, ~3.6 TFLOP/s fp32; a tab gets about half of 16 GB.
  m2: {
    name: 'm2',
    label: 'Apple M2 10-core GPU, 16 GB unified (profile)',
    memoryBytes: 8 * GiB,
    bandwidth: 100 * GB,
    peakFlops: 3.6 * TFLOPS,
    bandwidthEfficiency: 0.8,
    computeEfficiency: 0.6,
    dispatchMs: 0.008,
    callMs: 0.3,
    hostLinkBandwidth: 50 * GB,
  },
  // Intel Iris Xe class laptop iGPU: dual-channel LPDDR4x ~68 GB/s shared with the CPU, ~2.2 TFLOP/s fp32.
  'laptop-igpu': {
    name: 'laptop-igpu',
    label: 'Laptop integrated GPU (Iris Xe class), 4 GB share (profile)',
    memoryBytes: 4 * GiB,
    bandwidth: 68 * GB,
    peakFlops: 2.2 * TFLOPS,
    bandwidthEfficiency: 0.7,
    computeEfficiency: 0.5,
    dispatchMs: 0.015,
    callMs: 0.5,
    hostLinkBandwidth: 20 * GB,
  },
  // H200 SXM: 141 GB HBM3e at 4.8 TB/s; 67 TFLOP/s fp32 on the CUDA cores (WGSL cannot reach the
  // 989 TFLOP/s dense fp16 tensor cores); PCIe 5 x16 to the host.
  h200: {
    name: 'h200',
    label: 'NVIDIA H200 141 GB (profile)',
    memoryBytes: 141 * GB,
    bandwidth: 4800 * GB,
    peakFlops: 67 * TFLOPS,
    tensorPeakFlops: 989 * TFLOPS,
    bandwidthEfficiency: 0.8,
    computeEfficiency: 0.5,
    dispatchMs: 0.004,
    callMs: 0.1,
    hostLinkBandwidth: 55 * GB,
    l2Bytes: 50 * MiB,
  },
};

/**
 * The profile as a CUDA stack with tensor cores sees it (the paper's setting: vLLM running f16 models):
 * matmuls at the tensor-core rate, the same achieved fractions. Unchanged where there are no tensor cores.
 */
export function withTensorCores(p: HardwareProfile): HardwareProfile {
  if (p.tensorPeakFlops === undefined) return p;
  return { ...p, name: `${p.name}-tensor`, label: `${p.label.replace(/ \(profile\)$/, '')}, fp16 tensor cores (profile)`, peakFlops: p.tensorPeakFlops };
}

/** A named profile; 'measured' needs a calibration, so it comes from measuredProfile() instead. */
export function hardwareProfile(name: string): HardwareProfile {
  const p = HARDWARE_PROFILES[name];
  if (!p) {
    throw new OptionError(`unknown hardware profile "${name}" (known: ${Object.keys(HARDWARE_PROFILES).join(', ')}, measured)`);
  }
  return p;
}

/** One timed forward call on the current device, reduced to the cost model's three features. */
export interface CalibrationSample {
  /** Bytes the call moves through device memory (CostBreakdown.bytes). */
  bytes: number;
  /** FLOPs of the call (CostBreakdown.flops). */
  flops: number;
  /** Compute dispatches of the call. */
  dispatches: number;
  /** Measured wall-clock time, ms. */
  ms: number;
}

/**
 * Fits a profile to measured calls: ms ~ callMs + bytes/bw + flops/peak + dispatches*dispatchMs, each
 * coefficient non-negative (least squares over every subset of the features, best feasible fit kept).
 * A sum, not the roofline max: on a CPU device (llvmpipe) memory and compute do not overlap, and on a
 * GPU the fit still recovers the dominant term. Efficiencies are 1 because the fit already measures
 * achieved rates.
 */
export function measuredProfile(samples: CalibrationSample[], label = 'measured on this device', memoryBytes = 2 * GiB): HardwareProfile {
  if (samples.length < 2) throw new OptionError(`measured profile needs at least 2 calibration samples, got ${samples.length}`);
  const rows = samples.map((s) => [1, s.bytes, s.flops, s.dispatches]);
  const ys = samples.map((s) => s.ms);
  const coef = nonNegativeLeastSquares(rows, ys);
  const tiny = 1e-30;
  return {
    name: 'measured',
    label,
    memoryBytes,
    callMs: coef[0],
    bandwidth: 1 / Math.max(coef[1] / 1000, tiny),
    peakFlops: 1 / Math.max(coef[2] / 1000, tiny),
    dispatchMs: coef[3],
    bandwidthEfficiency: 1,
    computeEfficiency: 1,
    hostLinkBandwidth: 10 * GB,
  };
}

/** Least squares with every coefficient >= 0, by trying each subset of columns (there are only 4). */
function nonNegativeLeastSquares(rows: number[][], ys: number[]): number[] {
  const k = rows[0].length;
  // Scale columns to unit max so the normal equations are well conditioned (bytes ~1e9, flops ~1e12).
  const scale = Array.from({ length: k }, (_, j) => Math.max(...rows.map((r) => Math.abs(r[j]))) || 1);
  const x = rows.map((r) => r.map((v, j) => v / scale[j]));
  let best: number[] = new Array(k).fill(0);
  let bestErr = ys.reduce((a, y) => a + y * y, 0);
  for (let mask = 1; mask < 1 << k; mask++) {
    const cols = [...Array(k).keys()].filter((j) => mask & (1 << j));
    const sol = solveNormalEquations(x, ys, cols);
    if (!sol || sol.some((v) => v < 0)) continue;
    const full = new Array(k).fill(0);
    cols.forEach((j, i) => (full[j] = sol[i]));
    const err = x.reduce((a, r, i) => a + (r.reduce((s, v, j) => s + v * full[j], 0) - ys[i]) ** 2, 0);
    if (err < bestErr) {
      bestErr = err;
      best = full;
    }
  }
  return best.map((c, j) => c / scale[j]);
}

function solveNormalEquations(x: number[][], ys: number[], cols: number[]): number[] | null {
  const n = cols.length;
  const a = Array.from({ length: n }, () => new Array(n + 1).fill(0));
  for (let i = 0; i < x.length; i++) {
    for (let p = 0; p < n; p++) {
      for (let q = 0; q < n; q++) a[p][q] += x[i][cols[p]] * x[i][cols[q]];
      a[p][n] += x[i][cols[p]] * ys[i];
    }
  }
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
    if (Math.abs(a[piv][c]) < 1e-12) return null;
    [a[c], a[piv]] = [a[piv], a[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let q = c; q <= n; q++) a[r][q] -= f * a[c][q];
    }
  }
  return a.map((row, i) => row[n] / row[i]);
}
