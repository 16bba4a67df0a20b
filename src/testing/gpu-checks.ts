// Kernel checks against the CPU reference, runnable anywhere WebGPU is (Node/Dawn, headless Chromium):
// no Node APIs. The Vitest suites call the individual checks; the browser suite calls runGpuChecks
// (these and the whole-model checks of model-checks.ts) and compares greedyTokensOfTestModel with Node's.
//
// Tolerances: a sum of K f32 products in any order (and with or without fused multiply-adds) differs
// from the exact sum by at most about K * 2^-24 * sum|x_k w_k| (the standard recursive-summation
// bound), so the matmul checks use (K + 4) * 2^-24 * sum|x_k w_k|: rigorous, yet tight enough that a
// wrong index, scale or nibble shows up as an error many times larger. Element-wise kernels use a few
// f32 ulps of relative error (exp/sqrt on GPUs are accurate to a few ulps; the WGSL spec allows 3 + 2|x|
// ulps for exp); gathers and copies must be exact.
import { createGpu, type DeviceClass, type GpuContext } from '../gpu/device.ts';
import { storageBuffer, storageBufferWith, uniformBuffer } from '../gpu/buffers.ts';
import type { Launch } from '../gpu/pipelines.ts';
import { createGpuMatrix, writeMatrixRows } from '../gpu/weights.ts';
import { createMatmul } from '../gpu/kernels/matmul.ts';
import { createEmbedding } from '../gpu/kernels/embedding.ts';
import { createRmsNorm } from '../gpu/kernels/rmsnorm.ts';
import { createRopeKv, ropeTable, type KvShape } from '../gpu/kernels/rope-kv.ts';
import { createAttention } from '../gpu/kernels/attention.ts';
import { createHeadOp } from '../gpu/kernels/heads.ts';
import { createPageCopy } from '../gpu/kernels/page-copy.ts';
import { isQuantized, packMatrix, unpackMatrix, WEIGHT_FORMATS, wordsPerRow, type WeightFormat } from '../gpu/quant.ts';
import { mulberry32 } from '../model/random-model.ts';
import { f16ToF32, f32ToF16Bits } from '../gpu/float16.ts';
import { kvBytesPerElement, type KvDtype } from '../gpu/kv-dtype.ts';
import { matmulRef, rmsNormRef, ropeRef, roundToF16, CpuReferenceRunner } from '../runtime/cpu-reference.ts';
import { createWebGpuRunner } from '../runtime/webgpu-runner.ts';
import { compareRunners, MODEL_LOGITS_TOLERANCE, prefillDecodeBitwise, TEST_PROMPT, testModelSource } from './model-checks.ts';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

const U = 2 ** -24;

function randomArray(n: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}

/** Runs f inside a validation error scope and throws what the device reports. */
async function validated<R>(device: GPUDevice, f: () => R): Promise<R> {
  device.pushErrorScope('validation');
  const r = f();
  const error = await device.popErrorScope();
  if (error) throw new Error(`WebGPU validation: ${error.message.split('\n')[0]}`);
  return r;
}

async function run(device: GPUDevice, launches: Array<[Launch, number]>): Promise<void> {
  await validated(device, () => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const [l, rows] of launches) l.encode(pass, rows);
    pass.end();
    device.queue.submit([encoder.finish()]);
  });
  await device.queue.onSubmittedWorkDone();
}

async function read(device: GPUDevice, buffer: GPUBuffer, floats: number): Promise<Float32Array> {
  const staging = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  await validated(device, () => {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, floats * 4);
    device.queue.submit([encoder.finish()]);
  });
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

/** Worst |got - want| / bound over all elements; ok when <= 1. */
function compare(name: string, got: Float32Array, want: ArrayLike<number>, bound: (i: number) => number): CheckResult {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    const r = Number.isNaN(e) ? Infinity : e / bound(i);
    if (r > worst) {
      worst = r;
      at = i;
    }
  }
  const ok = worst <= 1;
  const detail =
    at < 0 ? `exact over ${want.length} values` : `worst error ${(worst * 100).toFixed(1)}% of tolerance at ${at} (got ${got[at]}, want ${want[at]})`;
  return { name, ok, detail };
}

function relBound(want: ArrayLike<number>, ulps: number, floor = 1e-30): (i: number) => number {
  return (i) => Math.max(Math.abs(want[i]) * ulps * U * 2, floor);
}

/** K/V values as the cache stores them: f32 as is, f16 as pairs of halves per word (elements 2j, 2j + 1 in word j). */
function kvStorage(values: Float32Array, dtype: KvDtype): Float32Array | Uint32Array {
  if (dtype === 'f32') return values;
  const words = new Uint32Array(values.length / 2);
  for (let j = 0; j < words.length; j++) words[j] = (f32ToF16Bits(values[2 * j]) | (f32ToF16Bits(values[2 * j + 1]) << 16)) >>> 0;
  return words;
}

/** Reads `elements` K/V values of the cache back as f32. */
async function readKv(device: GPUDevice, buffer: GPUBuffer, elements: number, dtype: KvDtype): Promise<Float32Array> {
  if (dtype === 'f32') return read(device, buffer, elements);
  const raw = await read(device, buffer, elements / 2);
  const words = new Uint32Array(raw.buffer, raw.byteOffset, raw.length);
  const out = new Float32Array(elements);
  for (let j = 0; j < words.length; j++) {
    out[2 * j] = f16ToF32(words[j] & 0xffff);
    out[2 * j + 1] = f16ToF32(words[j] >>> 16);
  }
  return out;
}

export interface MatmulCase {
  format: WeightFormat;
  deviceClass: DeviceClass;
  rows: number;
  k: number;
  n: number;
  bias: boolean;
  accumulate: boolean;
  /** Split the matrix into parts of at most this many bytes. */
  maxPartBytes?: number;
  /** Test of the test: move one reference weight by one quantization step (the check must fail). */
  perturbReference?: boolean;
  /** RMSNorm the input rows first (the fused layer norm). */
  norm?: boolean;
  /** SwiGLU: a second (up) matrix; output silu(x Wg^T) * (x Wu^T). */
  glu?: boolean;
}

export async function checkMatmul(gpu: GpuContext, c: MatmulCase, seed = 1): Promise<CheckResult> {
  const d = gpu.device;
  const rand = mulberry32(seed);
  const w = randomArray(c.n * c.k, rand, 1 / Math.sqrt(c.k));
  const packed = packMatrix(w, c.n, c.k, c.format);
  const wq = unpackMatrix(packed);
  if (c.perturbReference) wq[c.k + 5] += isQuantized(c.format) ? packed.scales[c.k / 32] : 0.01;
  const x = randomArray(c.rows * c.k, rand);
  const bias = randomArray(c.n, rand, 0.5);
  const y0 = randomArray(c.rows * c.n, rand);
  const normW = randomArray(c.k, rand);
  const xn = c.norm ? rmsNormRef(x, c.rows, c.k, normW, 1e-6) : x;
  const packedUp = packMatrix(randomArray(c.n * c.k, rand, 1 / Math.sqrt(c.k)), c.n, c.k, c.format);
  const wu = unpackMatrix(packedUp);
  const m = createGpuMatrix(d, c.format, c.n, c.k, c.maxPartBytes ?? gpu.limits.maxStorageBufferBindingSize, 'check');
  writeMatrixRows(d, m, 0, packed);
  const dims = uniformBuffer(d, [c.rows, 0, 0, 0], 'dims');
  const xb = storageBufferWith(d, x, 'x');
  const bb = storageBufferWith(d, bias, 'bias');
  const yb = storageBufferWith(d, y0, 'y');
  const nb = storageBufferWith(d, normW, 'norm');
  const up = c.glu ? createGpuMatrix(d, c.format, c.n, c.k, c.maxPartBytes ?? gpu.limits.maxStorageBufferBindingSize, 'check-up') : undefined;
  if (up) writeMatrixRows(d, up, 0, packedUp);
  const mm = await createMatmul(d, {
    matrix: m,
    up,
    deviceClass: c.deviceClass,
    hasBias: c.bias,
    accumulate: c.accumulate,
    normEps: c.norm ? 1e-6 : undefined,
  });
  await run(d, [[mm.bind({ dims, x: xb, bias: c.bias ? bb : undefined, norm: c.norm ? nb : undefined, y: yb }), c.rows]]);
  const got = await read(d, yb, c.rows * c.n);
  const gate = matmulRef(xn, c.rows, wq, c.n, c.k, c.bias ? bias : undefined);
  const upOut = matmulRef(xn, c.rows, wu, c.n, c.k);
  // Error bound of a dot product: (K + 4) ulps of sum |x_k w_k| (see the top of this file); with the
  // fused norm each normalized input carries up to (K + 8) ulps of relative error too.
  const ulps = c.k + 4 + (c.norm ? c.k + 8 : 0);
  const dotBound = (w: Float32Array, r: number, j: number, withBias: boolean) => {
    let s = withBias ? Math.abs(bias[j]) : 0;
    for (let i = 0; i < c.k; i++) s += Math.abs(xn[r * c.k + i] * w[j * c.k + i]);
    return ulps * U * s;
  };
  const want = new Float64Array(c.rows * c.n);
  const bound = new Float64Array(c.rows * c.n);
  for (let r = 0; r < c.rows; r++) {
    for (let j = 0; j < c.n; j++) {
      const i = r * c.n + j;
      const bg = dotBound(wq, r, j, c.bias);
      if (c.glu) {
        // silu'(g) <= 1.1: gate errors scale by |up|, up errors by |silu(g)|; plus exp and 3 roundings.
        const g = gate[i];
        const silu = g / (1 + Math.exp(-g));
        want[i] = silu * upOut[i];
        bound[i] = 1.1 * bg * Math.abs(upOut[i]) + Math.abs(silu) * dotBound(wu, r, j, false) + 24 * U * Math.abs(want[i]);
      } else {
        want[i] = gate[i];
        bound[i] = bg;
      }
      if (c.accumulate) {
        want[i] += y0[i];
        bound[i] += ulps * U * Math.abs(y0[i]);
      }
    }
  }
  for (const b of [dims, xb, bb, yb, nb, ...[...m.parts, ...(up?.parts ?? [])].flatMap((p) => [p.data, p.scales])]) b.destroy();
  const name = `matmul ${c.format} ${c.deviceClass} rows=${c.rows} ${c.n}x${c.k}${c.norm ? ' of rmsnorm(x)' : ''}${c.glu ? ' swiglu' : ''}${c.bias ? ' +bias' : ''}${c.accumulate ? ' +=' : ''}${m.parts.length > 1 ? ` ${m.parts.length} parts` : ''}`;
  return compare(name, got, want, (i) => bound[i] + 1e-30);
}

export async function checkEmbedding(gpu: GpuContext, format: WeightFormat, seed = 2): Promise<CheckResult> {
  const d = gpu.device;
  const rand = mulberry32(seed);
  const vocab = 50;
  const hidden = 64;
  const packed = packMatrix(randomArray(vocab * hidden, rand), vocab, hidden, format);
  const table = unpackMatrix(packed);
  // Small parts: the gather must find each token in its part.
  const m = createGpuMatrix(d, format, vocab, hidden, 7 * (packed.data.length / vocab) * 4, 'embed');
  writeMatrixRows(d, m, 0, packed);
  const tokens = [0, 49, 7, 7, 21, 14, 35, 48, 1];
  const rowInfo = new Uint32Array(tokens.flatMap((t, i) => [t, i, 0, 0]));
  const dims = uniformBuffer(d, [tokens.length, 0, 0, 0], 'dims');
  const info = storageBufferWith(d, rowInfo, 'row_info');
  const out = storageBuffer(d, tokens.length * hidden * 4, 'out');
  await run(d, [[await createEmbedding(d, m, { dims, rowInfo: info, out }), tokens.length]]);
  const got = await read(d, out, tokens.length * hidden);
  const want = new Float32Array(tokens.length * hidden);
  tokens.forEach((t, i) => want.set(table.subarray(t * hidden, (t + 1) * hidden), i * hidden));
  for (const b of [dims, info, out, ...m.parts.flatMap((p) => [p.data, p.scales])]) b.destroy();
  return compare(`embedding ${format} (${m.parts.length} parts)`, got, want, () => 1e-38);
}

export async function checkRmsNorm(gpu: GpuContext, deviceClass: DeviceClass, rowIndexed: boolean, seed = 3): Promise<CheckResult> {
  const d = gpu.device;
  const rand = mulberry32(seed);
  const rows = 6;
  const h = 96;
  // Row-indexed: output row r normalizes source row index[base + r] of a larger x.
  const sourceRows = rowIndexed ? 10 : rows;
  const x = randomArray(sourceRows * h, rand, 3);
  const weight = randomArray(h, rand);
  const base = rowIndexed ? 1 : 0;
  const index = rowIndexed ? new Uint32Array([9, 9, 5, 0, 2, 3, 1]) : new Uint32Array(rows);
  const picked = new Float32Array(rows * h);
  for (let r = 0; r < rows; r++) {
    const src = rowIndexed ? index[base + r] : r;
    picked.set(x.subarray(src * h, (src + 1) * h), r * h);
  }
  const dims = uniformBuffer(d, [rows, base, 0, 0], 'dims');
  const bufs = {
    x: storageBufferWith(d, x, 'x'),
    weight: storageBufferWith(d, weight, 'w'),
    rowIndex: storageBufferWith(d, index, 'idx'),
    y: storageBuffer(d, rows * h * 4, 'y'),
  };
  await run(d, [[await createRmsNorm(d, { hidden: h, eps: 1e-6, rowIndexed, deviceClass }, { dims, ...bufs }), rows]]);
  const got = await read(d, bufs.y, rows * h);
  const want = rmsNormRef(picked, rows, h, weight, 1e-6);
  for (const b of [dims, ...Object.values(bufs)]) b.destroy();
  // Sum of squares (h terms) plus sqrt, division and two products: (h + 8) ulps relative.
  return compare(`rmsnorm ${deviceClass}${rowIndexed ? ' row-indexed' : ''}`, got, want, relBound(want, h + 8, 1e-7));
}

/** The inputs of a paged kernel over token rows (positions in block tables): dims, layer, rows, tables, qkv and the cache. */
function pagedRowBuffers(
  d: GPUDevice,
  rows: Array<{ pos: number; table: number }>,
  layer: number,
  tables: Uint32Array,
  qkv: Float32Array,
  kv: Float32Array | Uint32Array,
) {
  return {
    dims: uniformBuffer(d, [rows.length, 0, 0, 0], 'dims'),
    layer: uniformBuffer(d, [layer, 0, 0, 0], 'layer'),
    rowInfo: storageBufferWith(d, new Uint32Array(rows.flatMap((r) => [0, r.pos, r.table, 0])), 'row_info'),
    blockTables: storageBufferWith(d, tables, 'tables'),
    qkv: storageBufferWith(d, qkv, 'qkv'),
    kv: storageBufferWith(d, kv, 'kv'),
  };
}

/** Fused RoPE + K/V cache write: q rotated in place, rotated k and plain v in the row's page slot (f16:
 *  rounded to the nearest half, as the CPU reference rounds them). */
export async function checkRopeKv(gpu: GpuContext, dtype: KvDtype = 'f32', seed = 4): Promise<CheckResult> {
  const d = gpu.device;
  const rand = mulberry32(seed);
  const layers = 2;
  const layer = 1;
  const shape: KvShape = { headDim: 16, numHeads: 4, numKvHeads: 2, pageSize: 4, pageFloats: 4 * 2 * layers * 2 * 16, dtype };
  const D = shape.headDim;
  const rowLen = (shape.numHeads + 2 * shape.numKvHeads) * D;
  // Rows of two sequences (block tables [3, 0, ...] at offset 0 and [6, 1] at offset 128), positions up
  // to 511 (large angles).
  const tables = new Uint32Array(130);
  tables.set([3, 0], 0);
  tables[127] = 2;
  tables.set([6, 1], 128);
  const rows = [
    { pos: 0, table: 0 },
    { pos: 5, table: 0 },
    { pos: 511, table: 0 },
    { pos: 1, table: 128 },
    { pos: 7, table: 128 },
    { pos: 4, table: 128 },
  ];
  const numPages = 7;
  const table = ropeTable(D, 1_000_000, 512);
  const qkv = randomArray(rows.length * rowLen, rand);
  const kv = randomArray(numPages * shape.pageFloats, rand);
  if (dtype === 'f16') roundToF16(kv);
  const { dims, layer: layerU, ...rowBufs } = pagedRowBuffers(d, rows, layer, tables, qkv, kvStorage(kv, dtype));
  const bufs = { ...rowBufs, table: storageBufferWith(d, table, 'rope_table') };
  await run(d, [[await createRopeKv(d, shape, { dims, layer: layerU, ...bufs, kv: { buffer: bufs.kv } }), rows.length]]);
  const gotQ = await read(d, bufs.qkv, qkv.length);
  const gotKv = await readKv(d, bufs.kv, kv.length, dtype);
  const wantQkv = qkv.slice();
  const wantKv = kv.slice();
  rows.forEach((r, i) => {
    for (let h = 0; h < shape.numHeads + shape.numKvHeads; h++) ropeRef(wantQkv, i * rowLen + h * D, D, r.pos, table);
    const page = tables[r.table + Math.floor(r.pos / shape.pageSize)];
    for (let h = 0; h < shape.numKvHeads; h++) {
      const k = i * rowLen + (shape.numHeads + h) * D;
      const v = i * rowLen + (shape.numHeads + shape.numKvHeads + h) * D;
      const at = (which: number) => page * shape.pageFloats + ((layer * 2 + which) * shape.pageSize + (r.pos % shape.pageSize)) * shape.numKvHeads * D + h * D;
      wantKv.set(wantQkv.subarray(k, k + D), at(0));
      wantKv.set(qkv.subarray(v, v + D), at(1));
      if (dtype === 'f16') {
        roundToF16(wantKv.subarray(at(0), at(0) + D));
        roundToF16(wantKv.subarray(at(1), at(1) + D));
      }
      // Keys are rotated only in the cache: the kernel leaves the qkv row's k as it was.
      wantQkv.set(qkv.subarray(k, k + D), k);
    }
  });
  for (const b of [dims, layerU, ...Object.values(bufs)]) b.destroy();
  // Two products and a sum of O(1) values: 4 ulps of the inputs' magnitude (copied V: exact).
  const q = compare('rope (queries)', gotQ, wantQkv, () => 4 * U * 2);
  if (!q.ok) return q;
  // f16: the same, or one half-precision step where the f32 rotation's last-bit difference crosses a
  // rounding boundary (2^-10 of the value, 2^-24 below the normal range); copied V rounds identically.
  const cacheBound = dtype === 'f16' ? (i: number) => 4 * U * 2 + Math.abs(wantKv[i]) * 2 ** -10 + 2 ** -24 : () => 4 * U * 2;
  const c = compare(`rope + kv-write (${dtype} cache)`, gotKv, wantKv, cacheBound);
  return c.ok ? { name: `rope + kv-write ${dtype}`, ok: true, detail: `${q.detail}; cache: ${c.detail}` } : c;
}

/** Paged causal GQA attention over a random cache, against a plain softmax. */
export async function checkAttention(gpu: GpuContext, deviceClass: DeviceClass, long = false, dtype: KvDtype = 'f32', seed = 5): Promise<CheckResult> {
  const d = gpu.device;
  const rand = mulberry32(seed);
  const layers = 2;
  const layer = 1;
  // Short: head dim 8, pages of 4. Long: head dim 12 (3 vec4), 150 positions (past two 64-position
  // blocks of the gpu variant), pages of 16.
  const D = long ? 12 : 8;
  const pageSize = long ? 16 : 4;
  const shape: KvShape = { headDim: D, numHeads: 4, numKvHeads: 2, pageSize, pageFloats: pageSize * 2 * layers * 2 * D, dtype };
  const rowLen = (shape.numHeads + 2 * shape.numKvHeads) * D;
  // Two sequences: A's rows at positions 0..lenA-1 (pages 7, 2, 9, 4, ...), B's at 0..5 (pages 5, 11).
  const lenA = long ? 150 : 11;
  const pagesA = Math.ceil(lenA / pageSize);
  const tableList = [7, 2, 9, 4, 12, 13, 14, 15, 16, 17].slice(0, pagesA).concat([5, 11]);
  const tables = new Uint32Array(tableList);
  const numPages = Math.max(...tableList) + 1;
  const rows: Array<{ pos: number; table: number }> = [];
  for (let p = 0; p < lenA; p++) rows.push({ pos: p, table: 0 });
  for (let p = 0; p < 6; p++) rows.push({ pos: p, table: pagesA });
  const qkv = randomArray(rows.length * rowLen, rand, 2);
  // f16: the cache holds halves; the reference reads the same values.
  const kv = randomArray(numPages * shape.pageFloats, rand);
  if (dtype === 'f16') roundToF16(kv);
  const { dims, layer: layerU, ...rowBufs } = pagedRowBuffers(d, rows, layer, tables, qkv, kvStorage(kv, dtype));
  const bufs = { ...rowBufs, out: storageBuffer(d, rows.length * shape.numHeads * D * 4, 'out') };
  const common = { dims, layer: layerU, rowInfo: bufs.rowInfo, blockTables: bufs.blockTables, qkv: bufs.qkv, kv: { buffer: bufs.kv } };
  await run(d, [[await createAttention(d, deviceClass, shape, { ...common, out: bufs.out }), rows.length]]);
  const got = await read(d, bufs.out, rows.length * shape.numHeads * D);
  const ref = kv;
  const at = (page: number, which: number, slot: number, h: number) =>
    page * shape.pageFloats + ((layer * 2 + which) * shape.pageSize + slot) * shape.numKvHeads * D + h * D;
  const want = new Float64Array(rows.length * shape.numHeads * D);
  rows.forEach((r, i) => {
    for (let h = 0; h < shape.numHeads; h++) {
      const kvh = Math.floor(h / (shape.numHeads / shape.numKvHeads));
      const s: number[] = [];
      for (let t = 0; t <= r.pos; t++) {
        const page = tables[r.table + Math.floor(t / shape.pageSize)];
        let dot = 0;
        for (let e = 0; e < D; e++) dot += qkv[i * rowLen + h * D + e] * ref[at(page, 0, t % shape.pageSize, kvh) + e];
        s.push(dot / Math.sqrt(D));
      }
      const mx = Math.max(...s);
      const p = s.map((v) => Math.exp(v - mx));
      const sum = p.reduce((a, b) => a + b, 0);
      for (let t = 0; t <= r.pos; t++) {
        const page = tables[r.table + Math.floor(t / shape.pageSize)];
        for (let e = 0; e < D; e++) want[(i * shape.numHeads + h) * D + e] += (p[t] / sum) * ref[at(page, 1, t % shape.pageSize, kvh) + e];
      }
    }
  });
  for (const b of [dims, layerU, ...Object.values(bufs)]) b.destroy();
  // Output = convex combination of V entries (|v| <= 1): errors come from exp (a few ulps) and the
  // running sums; 64 ulps of 1 bounds them with room, and is far below any indexing mistake.
  const res = compare(`paged attention ${deviceClass}${long ? ' long context' : ''} ${dtype}`, got, want, () => 64 * U);
  return res;
}

export async function checkHeads(gpu: GpuContext, seed = 7): Promise<CheckResult> {
  const d = gpu.device;
  const rand = mulberry32(seed);
  const rows = 7;
  const cols = 6;
  const v = randomArray(rows * cols, rand, 4);
  const dims = uniformBuffer(d, [rows, 0, 0, 0], 'dims');
  const vb = storageBufferWith(d, v, 'v');
  const score = storageBuffer(d, rows * 4, 'score');
  const sig = await createHeadOp(d, 'sigmoid_rows', 1, { dims, v: vb, score });
  await run(d, [[sig, rows]]);
  const gotSig = await read(d, score, rows);
  const wantSig = Array.from(v.subarray(0, rows), (z) => 1 / (1 + Math.exp(-z)));
  const relu = await createHeadOp(d, 'relu', cols, { dims, v: vb, score });
  const soft = await createHeadOp(d, 'softmax2', 2, { dims, v: vb, score });
  await run(d, [
    [relu, rows],
    [soft, rows],
  ]);
  const gotRelu = await read(d, vb, rows * cols);
  const gotSoft = await read(d, score, rows);
  const wantRelu = v.map((z) => Math.max(z, 0));
  const wantSoft = Array.from({ length: rows }, (_, r) => 1 / (1 + Math.exp(wantRelu[2 * r] - wantRelu[2 * r + 1])));
  for (const b of [dims, vb, score]) b.destroy();
  for (const r of [
    compare('heads sigmoid', gotSig, wantSig, relBound(wantSig, 24)),
    compare('heads relu', gotRelu, wantRelu, () => 1e-38),
    compare('heads softmax2', gotSoft, wantSoft, relBound(wantSoft, 48)),
  ]) {
    if (!r.ok) return r;
  }
  return { name: 'heads (sigmoid, relu, softmax2)', ok: true, detail: 'within tolerance' };
}

/** Page copies move bits: random words (NaN and denormal patterns included) must arrive unchanged. */
export async function checkPageCopy(gpu: GpuContext, dtype: KvDtype = 'f32', seed = 8): Promise<CheckResult> {
  const d = gpu.device;
  const rand = mulberry32(seed);
  const pageBytes = 96 * kvBytesPerElement(dtype);
  const pageWords = pageBytes / 4;
  const pages = 6;
  const kv = new Uint32Array(pages * pageWords);
  for (let i = 0; i < kv.length; i++) kv[i] = Math.floor(rand() * 2 ** 32) >>> 0;
  const pairs: Array<[number, number]> = [
    [0, 3],
    [5, 1],
    [0, 4],
  ];
  const dims = uniformBuffer(d, [pairs.length, 0, 0, 0], 'dims');
  const pb = storageBufferWith(d, new Uint32Array(pairs.flat()), 'pairs');
  const kb = storageBufferWith(d, kv, 'kv');
  await run(d, [[await createPageCopy(d, pageBytes, { dims, pairs: pb, kv: { buffer: kb } }), pairs.length]]);
  const raw = await read(d, kb, kv.length);
  const got = new Uint32Array(raw.buffer, raw.byteOffset, raw.length);
  const want = kv.slice();
  for (const [s, t] of pairs) want.copyWithin(t * pageWords, s * pageWords, (s + 1) * pageWords);
  for (const b of [dims, pb, kb]) b.destroy();
  const at = want.findIndex((w, i) => got[i] !== w);
  return {
    name: `page-copy ${dtype}`,
    ok: at < 0,
    detail: at < 0 ? `bitwise equal over ${want.length} words` : `word ${at}: got ${got[at].toString(16)}, want ${want[at].toString(16)}`,
  };
}

/** Every kernel check, small enough for a CPU device. */
export function kernelChecks(): Array<{ name: string; run: (gpu: GpuContext) => Promise<CheckResult> }> {
  const checks: Array<{ name: string; run: (gpu: GpuContext) => Promise<CheckResult> }> = [];
  for (const format of WEIGHT_FORMATS) {
    for (const deviceClass of ['cpu', 'gpu'] as const) {
      for (const rows of [1, 11]) {
        const c: MatmulCase = { format, deviceClass, rows, k: 96, n: 80, bias: rows === 1, accumulate: rows > 1 };
        checks.push({ name: `matmul ${format} ${deviceClass} rows=${rows}`, run: (g) => checkMatmul(g, c) });
      }
      for (const rows of [2, 9]) {
        const c: MatmulCase = { format, deviceClass, rows, k: 128, n: 44, bias: rows === 2, accumulate: false, norm: true };
        checks.push({ name: `matmul ${format} ${deviceClass} rows=${rows} of rmsnorm(x)`, run: (g) => checkMatmul(g, c) });
        const glu: MatmulCase = { format, deviceClass, rows, k: 64, n: 36, bias: false, accumulate: false, norm: rows === 9, glu: true };
        checks.push({ name: `matmul ${format} ${deviceClass} rows=${rows} swiglu`, run: (g) => checkMatmul(g, glu) });
      }
    }
    const rowBytes = wordsPerRow(format, 64) * 4;
    // 70 columns in parts of 20 (the gpu variant's 8-column workgroups end mid-part); 9 rows: a gpu tile.
    const deviceClass = format === 'f32' ? 'cpu' : 'gpu';
    checks.push({
      name: `matmul ${format} ${deviceClass} split`,
      run: (g) =>
        checkMatmul(g, { format, deviceClass, rows: format === 'q4' ? 9 : 3, k: 64, n: 70, bias: true, accumulate: false, maxPartBytes: 20 * rowBytes }),
    });
    checks.push({
      name: `matmul ${format} ${deviceClass} split swiglu`,
      run: (g) => checkMatmul(g, { format, deviceClass, rows: 5, k: 64, n: 70, bias: false, accumulate: false, glu: true, maxPartBytes: 20 * rowBytes }),
    });
    checks.push({ name: `embedding ${format}`, run: (g) => checkEmbedding(g, format) });
  }
  for (const deviceClass of ['cpu', 'gpu'] as const) {
    checks.push({ name: `rmsnorm ${deviceClass}`, run: (g) => checkRmsNorm(g, deviceClass, false) });
    checks.push({ name: `rmsnorm ${deviceClass} row-indexed`, run: (g) => checkRmsNorm(g, deviceClass, true) });
    for (const dtype of ['f16', 'f32'] as const) {
      checks.push({ name: `attention ${deviceClass} ${dtype}`, run: (g) => checkAttention(g, deviceClass, false, dtype) });
      checks.push({ name: `attention ${deviceClass} long context ${dtype}`, run: (g) => checkAttention(g, deviceClass, true, dtype) });
    }
  }
  for (const dtype of ['f16', 'f32'] as const) {
    checks.push({ name: `rope + kv-write ${dtype}`, run: (g) => checkRopeKv(g, dtype) });
    checks.push({ name: `page-copy ${dtype}`, run: (g) => checkPageCopy(g, dtype) });
  }
  checks.push({ name: 'heads', run: checkHeads });
  return checks;
}

/** Kernel checks, a whole-model logits check (prefill + decode, f32 and q4) and the prefill/decode
 *  bitwise-identity check; for the browser suite. Creates its own device unless one is given. */
export async function runGpuChecks(gpuOrNothing?: GpuContext): Promise<CheckResult[]> {
  const gpu = gpuOrNothing ?? (await createGpu());
  const results: CheckResult[] = [];
  const attempt = async (name: string, f: () => Promise<CheckResult>) => {
    try {
      results.push(await f());
    } catch (e) {
      results.push({ name, ok: false, detail: `threw ${(e as Error).name}: ${(e as Error).message}` });
    }
  };
  for (const c of kernelChecks()) await attempt(c.name, () => c.run(gpu));
  const logitCases: Array<[WeightFormat, KvDtype]> = [
    ['f32', 'f16'],
    ['bf16', 'f16'],
    ['q4', 'f16'],
    ['q4', 'f32'],
  ];
  for (const [format, kvDtype] of logitCases) {
    const name = `model logits ${format}, ${kvDtype} K/V`;
    await attempt(name, async () => {
      const source = testModelSource();
      const gpuRunner = await createWebGpuRunner(gpu, source, { weightFormat: format, numPages: 4, maxBatchTokens: 16, kvDtype });
      const ref = await CpuReferenceRunner.create(source, { weightFormat: format, numPages: 4, kvDtype });
      try {
        const diff = await compareRunners(gpuRunner, ref, TEST_PROMPT, 4);
        return {
          name,
          ok: diff <= MODEL_LOGITS_TOLERANCE,
          detail: `max relative logits difference ${diff.toExponential(2)} (tolerance ${MODEL_LOGITS_TOLERANCE})`,
        };
      } finally {
        gpuRunner.dispose();
      }
    });
  }
  for (const kvDtype of ['f16', 'f32'] as const) {
    const name = `prefill vs decode bitwise, ${kvDtype} K/V`;
    await attempt(name, async () => {
      const r = await prefillDecodeBitwise(gpu, 'q4', kvDtype);
      return { name, ok: r.equal, detail: r.detail };
    });
  }
  if (!gpuOrNothing) gpu.destroy();
  return results;
}
