// The CPU route's ModelRunner: the same Qwen2 forward as the WebGPU runner (same weight formats, KV page
// layout, block tables and contracts), run by WebAssembly SIMD kernels (wasm/*.c) in one linear memory.
// The engine picks it where the only WebGPU adapter is a CPU (llvmpipe, SwiftShader) or there is none:
// there, the kernels' own loops vectorized by a compiler beat a GPU program emulated on the CPU.
//
// Quantized matrices (q8/q4) multiply activations quantized to 8 bits per group of 32 (as llama.cpp
// does on CPUs): integer dot products, then the two scales. The CPU reference implements the same
// activation rounding (CpuReferenceOptions.activations = 'q8'), so checks against it stay tight.
// f32 matrices multiply f32 activations. Every output of a token is computed by the same operations
// whether the token is alone, in any batch, in prefill or in decode (see wasm/matmul.c).
//
// Per forward: embed -> per layer [rmsnorm, qkv matmul + bias, rope + kv write, attention, o matmul +
// residual, rmsnorm, gate and up matmuls, swiglu, down matmul + residual] -> per slice of output rows
// [final rmsnorm, LM head | value head + sigmoid | score.0 + relu + score.2 + softmax].
import { OptionError, PromptTooLongError } from '../errors.ts';
import { createWasmKernels, type WasmKernels } from '../cpu/wasm-module.ts';
import { FORMAT_CODE, GROUP_SIZE, isQuantized, wordsPerRow, type WeightFormat } from '../gpu/quant.ts';
import { ropeTable } from '../gpu/kernels/rope-kv.ts';
import { kvBytesPerElement, type KvDtype } from '../gpu/kv-dtype.ts';
import { expectedTensors, kvBytesPerToken } from '../model/config.ts';
import type { LoadProgress, ModelSource } from '../model/source.ts';
import { flattenBatch, validatePagePairs } from './forward-batch.ts';
import { allocateSlots, checkRunnerOptions, loadSlots, slotMatrices, type ModelSlots } from './model-weights.ts';
import type { ForwardBatch, ForwardResult, ModelRunner } from './types.ts';

export interface WasmRunnerOptions {
  weightFormat: WeightFormat;
  numPages: number;
  pageSize?: number;
  /** K/V storage: 'f16' (default) or 'f32', as on the GPU. */
  kvDtype?: KvDtype;
  /** Most token rows in one forward call. Default 256. */
  maxBatchTokens?: number;
  /** KV storage at this byte offset of the kernels' memory (the shared KV arena); default: the runner's own. */
  kv?: { offsetBytes: number; numPages: number };
  onProgress?: (p: LoadProgress) => void;
}

export interface WasmRunner extends ModelRunner {
  readonly kernels: WasmKernels;
  readonly weightFormat: WeightFormat;
  readonly kvDtype: KvDtype;
  readonly pageBytes: number;
  readonly weightBytes: number;
  /** The KV storage: byte offset and size in the kernels' memory. */
  readonly kvRegion: { offsetBytes: number; bytes: number };
}

interface Matrix {
  format: WeightFormat;
  rows: number;
  cols: number;
  /** Packed values (src/gpu/quant.ts layout) and, for q8/q4, the f32 group scales. */
  data: number;
  scales: number;
  rowBytes: number;
  bytes: number;
}

/**
 * Lets the event loop run (a macrotask, not a microtask): the kernels run synchronously, so without this
 * a whole search in a web worker would never see the message that cancels it. setImmediate in Node; in
 * a browser a MessageChannel message, which, unlike setTimeout, is not clamped to milliseconds.
 */
function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** Rows of output (logits or scores) computed per head pass. */
const HEAD_ROWS = 64;

export async function createWasmRunner(source: ModelSource, options: WasmRunnerOptions, kernels?: WasmKernels): Promise<WasmRunner> {
  const c = source.config;
  const { format, pageSize, maxBatchTokens, kvDtype } = checkRunnerOptions(c, options);
  const numPages = options.kv?.numPages ?? options.numPages;
  if (!Number.isInteger(numPages) || numPages < 1) throw new OptionError(`numPages must be a positive integer, got ${numPages}`);
  const wk = kernels ?? (await createWasmKernels());
  const k = wk.k;

  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const D = c.headDim;
  const kvDim = c.numKvHeads * D;
  const qkvCols = H + 2 * kvDim;
  const pageBytes = pageSize * kvBytesPerToken(c, kvBytesPerElement(kvDtype));
  const pageElems = pageSize * kvBytesPerToken(c, 1);
  if (options.kv && options.kv.offsetBytes % 16 !== 0) throw new OptionError(`KV region offset ${options.kv.offsetBytes} is not a multiple of 16`);
  const kvBase = options.kv ? options.kv.offsetBytes : wk.alloc(numPages * pageBytes, 'KV cache');
  if (options.kv && kvBase + numPages * pageBytes > wk.memory.buffer.byteLength)
    throw new OptionError(`KV region of ${numPages} pages of ${pageBytes} bytes lies outside the kernels' memory`);

  // Weights: allocated up front, then filled tensor by tensor.
  const matrix = (rows: number, cols: number, label: string, f32: boolean): Matrix => {
    const f = f32 ? 'f32' : format;
    const rowBytes = wordsPerRow(f, cols) * 4;
    const scaleBytes = isQuantized(f) ? (rows * cols * 4) / GROUP_SIZE : 0;
    return {
      format: f,
      rows,
      cols,
      rowBytes,
      data: wk.alloc(rows * rowBytes, label),
      scales: wk.alloc(scaleBytes, label),
      bytes: rows * rowBytes + scaleBytes,
    };
  };
  const w: ModelSlots<Matrix, number> = allocateSlots(c, matrix, (n, label) => wk.alloc(n * 4, label));
  const weightBytes = slotMatrices(w).reduce((sum, m) => sum + m.bytes, 0);
  const expected = expectedTensors(c);
  let bytesDone = 0;
  let tensorsDone = 0;
  const report = (phase: 'quantize' | 'upload') =>
    options.onProgress?.({ phase, bytesDone, bytesTotal: weightBytes, tensorsDone, tensorsTotal: expected.size });
  await loadSlots(
    source,
    w,
    {
      matrix(m, rowStart, pack, rows, cols) {
        if (isQuantized(m.format)) report('quantize');
        const packed = pack(m.format);
        const { rowBytes } = m;
        wk.u8(m.data + rowStart * rowBytes, rows * rowBytes).set(new Uint8Array(packed.data.buffer, packed.data.byteOffset, rows * rowBytes));
        if (isQuantized(m.format)) wk.f32(m.scales + (rowStart * cols * 4) / GROUP_SIZE, packed.scales.length).set(packed.scales);
        bytesDone += rows * rowBytes + packed.scales.byteLength;
      },
      vector(v, offset, values) {
        wk.f32(v + offset * 4, values.length).set(values);
      },
      tensorDone() {
        tensorsDone++;
        report('upload');
      },
    },
    options.onProgress,
  );

  // Activations, for maxBatchTokens rows.
  const T = maxBatchTokens;
  const contextLimit = Math.min(c.maxPositions, numPages * pageSize);
  const maxTableEntries = T * Math.ceil(contextLimit / pageSize);
  const widest = Math.max(H, I);
  const vocabOut = c.kind === 'causal-lm' ? c.vocabSize : 2;
  const headRows = Math.min(T, HEAD_ROWS);
  const f32s = (n: number, label: string) => wk.alloc(n * 4, label);
  const buf = {
    info: wk.alloc(T * 16, 'row info'),
    tables: wk.alloc(maxTableEntries * 4, 'block tables'),
    rope: f32s(contextLimit * D, 'rope table'),
    x: f32s(T * H, 'x'),
    xn: f32s(T * H, 'xn'),
    qkv: f32s(T * qkvCols, 'qkv'),
    attn: f32s(T * H, 'attn'),
    proj: f32s(T * H, 'proj'),
    gate: f32s(T * I, 'gate'),
    up: f32s(T * I, 'up'),
    act: f32s(T * I, 'act'),
    xq: wk.alloc(T * widest * 2, 'quantized activations'),
    // Scales, then (relaxed SIMD, q4) the activations' sums: wasm/matmul.c quantize_q8.
    xs: f32s((2 * T * widest) / GROUP_SIZE, 'activation scales'),
    scratch: f32s((c.numHeads / c.numKvHeads) * contextLimit + 2 * D, 'attention scratch'),
    headIn: f32s(headRows * H, 'head in'),
    headMid: f32s(headRows * H, 'head mid'),
    headOut: f32s(headRows * vocabOut, 'head out'),
  };
  wk.f32(buf.rope, contextLimit * D).set(ropeTable(D, c.ropeTheta, contextLimit));

  /** y[rows, m.rows] = x[rows, m.cols] W^T (+ bias). For q8/q4, `x` is quantized first unless `quantized` says it already is. */
  function matmul(y: number, x: number, rows: number, m: Matrix, bias?: number, quantized = false): void {
    if (!isQuantized(m.format)) wk.pool.matmul(`matmul_${m.format}`, m, y, x, 0, rows);
    else {
      if (!quantized) k.quantize_q8(x, rows, m.cols, buf.xq, buf.xs, m.format === 'q4' ? 1 : 0);
      wk.pool.matmul(m.format === 'q4' ? 'matmul_q4' : 'matmul_q8', m, y, buf.xq, buf.xs, rows);
    }
    if (bias !== undefined) k.add_bias(y, rows, m.rows, bias);
  }

  function body(rows: number): void {
    const kvArgs = [D, c.numHeads, c.numKvHeads, pageSize, pageElems, kvDtype === 'f16' ? 1 : 0] as const;
    for (let l = 0; l < c.numLayers; l++) {
      const L = w.layers[l];
      k.rmsnorm(buf.xn, buf.x, rows, H, L.inputNorm, c.rmsNormEps);
      matmul(buf.qkv, buf.xn, rows, L.qkv, L.qkvBias);
      k.rope_kv(buf.qkv, rows, buf.info, buf.tables, buf.rope, kvBase, l, ...kvArgs);
      k.attention(buf.attn, buf.qkv, rows, buf.info, buf.tables, kvBase, l, ...kvArgs, buf.scratch);
      matmul(buf.proj, buf.attn, rows, L.o);
      k.add_into(buf.x, buf.proj, rows * H);
      k.rmsnorm(buf.xn, buf.x, rows, H, L.postNorm, c.rmsNormEps);
      matmul(buf.gate, buf.xn, rows, L.gate);
      matmul(buf.up, buf.xn, rows, L.up, undefined, isQuantized(L.up.format));
      k.swiglu(buf.act, buf.gate, buf.up, rows * I);
      matmul(buf.proj, buf.act, rows, L.down);
      k.add_into(buf.x, buf.proj, rows * H);
    }
  }

  /** Outputs of `rows` rows already gathered and normed into headIn: logits, or scores. */
  function head(rows: number, out: Float32Array, at: number): void {
    if (c.kind === 'causal-lm') {
      matmul(buf.headOut, buf.headIn, rows, w.lmHead ?? w.embed);
      out.set(wk.f32(buf.headOut, rows * c.vocabSize), at * c.vocabSize);
    } else if (w.vHead) {
      matmul(buf.headOut, buf.headIn, rows, w.vHead.w, w.vHead.b);
      const z = wk.f32(buf.headOut, rows);
      for (let r = 0; r < rows; r++) out[at + r] = 1 / (1 + Math.exp(-z[r]));
    } else if (w.score) {
      matmul(buf.headMid, buf.headIn, rows, w.score.w0, w.score.b0);
      const mid = wk.f32(buf.headMid, rows * H);
      for (let i = 0; i < mid.length; i++) mid[i] = Math.max(mid[i], 0);
      matmul(buf.headOut, buf.headMid, rows, w.score.w2, w.score.b2);
      const two = wk.f32(buf.headOut, rows * 2);
      for (let r = 0; r < rows; r++) out[at + r] = 1 / (1 + Math.exp(two[r * 2] - two[r * 2 + 1]));
    }
  }

  let disposed = false;
  function checkUsable(): void {
    if (disposed) throw new OptionError('the runner has been disposed');
  }

  async function forward(batch: ForwardBatch): Promise<ForwardResult> {
    await yieldToEventLoop();
    checkUsable();
    const flat = flattenBatch(c, pageSize, numPages, batch);
    for (const ch of batch.chunks) {
      const end = ch.start + ch.tokens.length;
      if (end > contextLimit) throw new PromptTooLongError(end, contextLimit);
    }
    const rows = flat.rows;
    if (rows > maxBatchTokens) throw new OptionError(`forward: ${rows} tokens exceed maxBatchTokens ${maxBatchTokens}`);
    if (flat.blockTables.length > maxTableEntries) throw new OptionError(`forward: ${flat.blockTables.length} block-table entries exceed ${maxTableEntries}`);
    const outRows = flat.outputIndex.length;
    const out = new Float32Array(outRows * (c.kind === 'causal-lm' ? c.vocabSize : 1));
    const result = (): ForwardResult => (c.kind === 'causal-lm' ? { rows: outRows, logits: out } : { rows: outRows, scores: out });
    if (rows === 0) return result();
    wk.i32(buf.info, rows * 4).set(flat.rowInfo);
    wk.i32(buf.tables, flat.blockTables.length).set(flat.blockTables);
    const embedFormat = FORMAT_CODE[w.embed.format];
    for (let r = 0; r < rows; r++) k.dequant_row(buf.x + r * H * 4, w.embed.data, w.embed.scales, embedFormat, flat.rowInfo[r * 4], H);
    body(rows);
    const x = wk.f32(buf.x, rows * H);
    for (let base = 0; base < outRows; base += headRows) {
      const n = Math.min(headRows, outRows - base);
      const gathered = wk.f32(buf.headMid, n * H);
      for (let i = 0; i < n; i++) gathered.set(x.subarray(flat.outputIndex[base + i] * H, (flat.outputIndex[base + i] + 1) * H), i * H);
      k.rmsnorm(buf.headIn, buf.headMid, n, H, w.finalNorm, c.rmsNormEps);
      head(n, out, base);
    }
    return result();
  }

  return {
    config: c,
    pageSize,
    numPages,
    kernels: wk,
    weightFormat: format,
    kvDtype,
    pageBytes,
    weightBytes,
    kvRegion: { offsetBytes: kvBase, bytes: numPages * pageBytes },
    forward,
    async copyPages(pairs) {
      checkUsable();
      validatePagePairs(pairs, numPages);
      const mem = wk.u8(0, wk.memory.buffer.byteLength);
      for (const [s, d] of pairs) mem.copyWithin(kvBase + d * pageBytes, kvBase + s * pageBytes, kvBase + (s + 1) * pageBytes);
    },
    dispose() {
      disposed = true;
      if (!kernels) wk.dispose();
    },
  };
}
