// The same Qwen2 forward in plain TypeScript: the reference the WebGPU kernels and runner are checked
// against. Sums in f64, values rounded to f32 where the GPU stores a tensor (so only the order of
// rounding differs). Quantized weights are the dequantized packed bytes (unpackMatrix), exactly the
// values the kernels use. K/V live in pages with the GPU's layout, addressed through the same block
// tables, so paged attention and copyPages are checked too. With f16 K/V (the default, as on the GPU)
// every K and V element is rounded to the nearest half (ties to even) when written, the rounding the
// kernels' pack2x16float does, and kept in the f32 array as that exact value.
import { OptionError } from '../errors.ts';
import { expectedTensors, kvBytesPerToken, type Qwen2Config } from '../model/config.ts';
import { GROUP_SIZE, isQuantized, unpackMatrix, type WeightFormat } from '../gpu/quant.ts';
import type { ModelSource } from '../model/source.ts';
import { ropeTable } from '../gpu/kernels/rope-kv.ts';
import { checkKvDtype, checkKvHeadDim, DEFAULT_KV_DTYPE, type KvDtype } from '../gpu/kv-dtype.ts';
import { f16ToF32, f32ToF16Bits } from '../gpu/float16.ts';
import { flattenBatch, validatePagePairs } from './forward-batch.ts';
import { packTensor } from './model-weights.ts';
import type { ForwardBatch, ForwardResult, ModelRunner } from './types.ts';
import { FormatError } from '../errors.ts';

/** Matrices as the kernels see them: dequantized from the packed format (f32 stays exact). */
export type ReferenceWeights = Map<string, Float32Array>;

/** Packs each matrix like the WebGPU runner does and dequantizes it back; vectors stay as they are. */
export async function referenceWeights(source: ModelSource, format: WeightFormat): Promise<ReferenceWeights> {
  const c = source.config;
  const expected = expectedTensors(c);
  const out: ReferenceWeights = new Map();
  // The heads' small output matrices are f32 in the WebGPU runner too.
  const alwaysF32 = new Set(['v_head.summary.weight', 'score.2.weight']);
  for await (const t of source.tensors()) {
    const shape = expected.get(t.name);
    if (!shape) continue;
    if (shape.length === 2) {
      const f = alwaysF32.has(t.name) ? 'f32' : format;
      out.set(t.name, unpackMatrix(packTensor(t, f, shape[0], shape[1])));
    } else {
      out.set(t.name, t.values.slice());
    }
  }
  for (const name of expected.keys()) if (!out.has(name)) throw new FormatError(source.name, `missing tensor ${name}`);
  return out;
}

/** y[r, n] = sum_k x[r, k] * W[n, k] (+ bias[n]), summed in f64 (four interleaved partial sums, for
 *  speed: the search tests run whole searches on this runner), rounded to f32. */
export function matmulRef(x: Float32Array, rows: number, w: Float32Array, n: number, k: number, bias?: Float32Array): Float32Array {
  const y = new Float32Array(rows * n);
  const k4 = k - (k % 4);
  // Weight row outer, input rows inner: each weight row is read from memory once per call.
  for (let j = 0; j < n; j++) {
    const wo = j * k;
    for (let r = 0; r < rows; r++) {
      const xo = r * k;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let i = 0; i < k4; i += 4) {
        s0 += x[xo + i] * w[wo + i];
        s1 += x[xo + i + 1] * w[wo + i + 1];
        s2 += x[xo + i + 2] * w[wo + i + 2];
        s3 += x[xo + i + 3] * w[wo + i + 3];
      }
      for (let i = k4; i < k; i++) s0 += x[xo + i] * w[wo + i];
      const s = s0 + s1 + (s2 + s3);
      y[r * n + j] = bias ? Math.fround(s) + bias[j] : s;
    }
  }
  return y;
}

export function rmsNormRef(x: Float32Array, rows: number, h: number, weight: Float32Array, eps: number): Float32Array {
  const y = new Float32Array(rows * h);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < h; i++) ss += x[r * h + i] * x[r * h + i];
    const inv = 1 / Math.sqrt(ss / h + eps);
    for (let i = 0; i < h; i++) y[r * h + i] = x[r * h + i] * inv * weight[i];
  }
  return y;
}

export function siluMulRef(gate: number, up: number): number {
  return (gate / (1 + Math.exp(-gate))) * up;
}

/** Rotates one head vector in place (rotate_half convention) with the shared cos/sin table. */
export function ropeRef(v: Float32Array, offset: number, headDim: number, position: number, table: Float32Array): void {
  const half = headDim / 2;
  for (let i = 0; i < half; i++) {
    const cos = table[(position * half + i) * 2];
    const sin = table[(position * half + i) * 2 + 1];
    const x1 = v[offset + i];
    const x2 = v[offset + i + half];
    v[offset + i] = x1 * cos - x2 * sin;
    v[offset + i + half] = x2 * cos + x1 * sin;
  }
}

export interface CpuReferenceOptions {
  weightFormat: WeightFormat;
  numPages: number;
  pageSize?: number;
  /** K/V storage: 'f16' (default) rounds every element to a half on write; 'f32' keeps it. */
  kvDtype?: KvDtype;
  /** 'q8': activations entering a quantized matrix are first rounded as the CPU route's kernels round
   *  them (quantizeActivations); 'f32' (default, as on the GPU): used as they are. */
  activations?: 'f32' | 'q8';
}

/**
 * The CPU route's activation rounding (wasm/matmul.c quantize_q8), on each row of [rows, k] in place:
 * per group of 32, scale d = max|x| / 127 and x -> nearest-even(x * (1 / d)) * d, in f32 steps.
 */
export function quantizeActivations(x: Float32Array, rows: number, k: number): Float32Array {
  for (let g = 0; g < (rows * k) / GROUP_SIZE; g++) {
    const base = g * GROUP_SIZE;
    let amax = 0;
    for (let j = 0; j < GROUP_SIZE; j++) amax = Math.max(amax, Math.abs(x[base + j]));
    const d = Math.fround(amax / 127);
    const inv = d === 0 ? 0 : Math.fround(1 / d);
    for (let j = 0; j < GROUP_SIZE; j++) {
      const v = Math.fround(x[base + j] * inv);
      // Nearest, ties to even (f32.nearest); Math.round would take ties up.
      let q = Math.round(v);
      if (q - v === 0.5 && q % 2 !== 0) q -= 1;
      x[base + j] = Math.min(127, Math.max(-127, q)) * d;
    }
  }
  return x;
}

/** Rounds every element to the nearest f16 value (ties to even): what f16 K/V storage keeps. */
export function roundToF16(values: Float32Array): Float32Array {
  for (let i = 0; i < values.length; i++) values[i] = f16ToF32(f32ToF16Bits(values[i]));
  return values;
}

export class CpuReferenceRunner implements ModelRunner {
  readonly pageSize: number;
  readonly numPages: number;
  /** K/V pages, same layout as the GPU: (page, layer, kv, slot, kvHead, d). */
  readonly kv: Float32Array;
  readonly kvDtype: KvDtype;
  private readonly quantizeInputs: boolean;
  private readonly pageFloats: number;
  private readonly rope: Float32Array;

  private constructor(
    readonly config: Qwen2Config,
    private readonly w: ReferenceWeights,
    options: CpuReferenceOptions,
  ) {
    this.pageSize = options.pageSize ?? 16;
    this.numPages = options.numPages;
    this.kvDtype = checkKvDtype(options.kvDtype ?? DEFAULT_KV_DTYPE);
    this.quantizeInputs = options.activations === 'q8' && isQuantized(options.weightFormat);
    checkKvHeadDim(config.headDim, this.kvDtype);
    this.pageFloats = this.pageSize * kvBytesPerToken(config, 1);
    this.kv = new Float32Array(this.numPages * this.pageFloats);
    this.rope = ropeTable(config.headDim, config.ropeTheta, config.maxPositions);
  }

  static async create(source: ModelSource, options: CpuReferenceOptions): Promise<CpuReferenceRunner> {
    if (!Number.isInteger(options.numPages) || options.numPages < 1) throw new OptionError(`numPages must be a positive integer, got ${options.numPages}`);
    return new CpuReferenceRunner(source.config, await referenceWeights(source, options.weightFormat), options);
  }

  private kvIndex(page: number, layer: number, kv: 0 | 1, slot: number, head: number): number {
    const c = this.config;
    return page * this.pageFloats + ((layer * 2 + kv) * this.pageSize + slot) * c.numKvHeads * c.headDim + head * c.headDim;
  }

  /** matmulRef with a matrix in the weight format, its input rounded first where the route does. */
  private mm(x: Float32Array, rows: number, w: Float32Array, n: number, k: number, bias?: Float32Array): Float32Array {
    return matmulRef(this.quantizeInputs ? quantizeActivations(x.slice(), rows, k) : x, rows, w, n, k, bias);
  }

  async forward(batch: ForwardBatch): Promise<ForwardResult> {
    const c = this.config;
    const flat = flattenBatch(c, this.pageSize, this.numPages, batch);
    const T = flat.rows;
    const H = c.hiddenSize;
    const D = c.headDim;
    const kvDim = c.numKvHeads * D;
    const I = c.intermediateSize;
    const w = (name: string) => this.w.get(name)!;
    const rowToken = (r: number) => flat.rowInfo[r * 4];
    const rowPos = (r: number) => flat.rowInfo[r * 4 + 1];
    const rowTable = (r: number) => flat.rowInfo[r * 4 + 2];

    const x = new Float32Array(T * H);
    const embed = w('model.embed_tokens.weight');
    for (let r = 0; r < T; r++) x.set(embed.subarray(rowToken(r) * H, (rowToken(r) + 1) * H), r * H);

    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}.`;
      const xn = rmsNormRef(x, T, H, w(p + 'input_layernorm.weight'), c.rmsNormEps);
      const q = this.mm(xn, T, w(p + 'self_attn.q_proj.weight'), H, H, w(p + 'self_attn.q_proj.bias'));
      const k = this.mm(xn, T, w(p + 'self_attn.k_proj.weight'), kvDim, H, w(p + 'self_attn.k_proj.bias'));
      const v = this.mm(xn, T, w(p + 'self_attn.v_proj.weight'), kvDim, H, w(p + 'self_attn.v_proj.bias'));
      for (let r = 0; r < T; r++) {
        for (let h = 0; h < c.numHeads; h++) ropeRef(q, r * H + h * D, D, rowPos(r), this.rope);
        for (let h = 0; h < c.numKvHeads; h++) ropeRef(k, r * kvDim + h * D, D, rowPos(r), this.rope);
        if (this.kvDtype === 'f16') {
          roundToF16(k.subarray(r * kvDim, (r + 1) * kvDim));
          roundToF16(v.subarray(r * kvDim, (r + 1) * kvDim));
        }
        const page = flat.blockTables[rowTable(r) + Math.floor(rowPos(r) / this.pageSize)];
        const slot = rowPos(r) % this.pageSize;
        for (let h = 0; h < c.numKvHeads; h++) {
          this.kv.set(k.subarray(r * kvDim + h * D, r * kvDim + (h + 1) * D), this.kvIndex(page, l, 0, slot, h));
          this.kv.set(v.subarray(r * kvDim + h * D, r * kvDim + (h + 1) * D), this.kvIndex(page, l, 1, slot, h));
        }
      }
      const attn = new Float32Array(T * H);
      const group = c.numHeads / c.numKvHeads;
      const scale = 1 / Math.sqrt(D);
      const kv = this.kv;
      for (let r = 0; r < T; r++) {
        const ctx = rowPos(r) + 1;
        const scores = new Float64Array(ctx);
        // Where each context position's K (of kv head 0) sits: through the block table, once per row.
        const kAt = new Int32Array(ctx);
        for (let t = 0; t < ctx; t++) kAt[t] = this.kvIndex(flat.blockTables[rowTable(r) + Math.floor(t / this.pageSize)], l, 0, t % this.pageSize, 0);
        const vOffset = this.pageSize * kvDim;
        const acc = new Float64Array(D);
        for (let h = 0; h < c.numHeads; h++) {
          const headOffset = Math.floor(h / group) * D;
          const qo = r * H + h * D;
          let max = -Infinity;
          for (let t = 0; t < ctx; t++) {
            const ki = kAt[t] + headOffset;
            let s = 0;
            for (let d = 0; d < D; d++) s += q[qo + d] * kv[ki + d];
            scores[t] = s * scale;
            if (scores[t] > max) max = scores[t];
          }
          let sum = 0;
          for (let t = 0; t < ctx; t++) sum += scores[t] = Math.exp(scores[t] - max);
          acc.fill(0);
          for (let t = 0; t < ctx; t++) {
            const vi = kAt[t] + vOffset + headOffset;
            const p = scores[t];
            for (let d = 0; d < D; d++) acc[d] += p * kv[vi + d];
          }
          for (let d = 0; d < D; d++) attn[qo + d] = acc[d] / sum;
        }
      }
      const o = this.mm(attn, T, w(p + 'self_attn.o_proj.weight'), H, H);
      for (let i = 0; i < T * H; i++) x[i] += o[i];
      const xn2 = rmsNormRef(x, T, H, w(p + 'post_attention_layernorm.weight'), c.rmsNormEps);
      const gate = this.mm(xn2, T, w(p + 'mlp.gate_proj.weight'), I, H);
      const up = this.mm(xn2, T, w(p + 'mlp.up_proj.weight'), I, H);
      const act = new Float32Array(T * I);
      for (let i = 0; i < T * I; i++) act[i] = siluMulRef(gate[i], up[i]);
      const down = this.mm(act, T, w(p + 'mlp.down_proj.weight'), H, I);
      for (let i = 0; i < T * H; i++) x[i] += down[i];
    }

    const outRows = flat.outputIndex.length;
    const sel = new Float32Array(outRows * H);
    flat.outputIndex.forEach((r, i) => sel.set(x.subarray(r * H, (r + 1) * H), i * H));
    const hidden = rmsNormRef(sel, outRows, H, w('model.norm.weight'), c.rmsNormEps);
    if (c.kind === 'causal-lm') {
      const head = c.tieWordEmbeddings ? w('model.embed_tokens.weight') : w('lm_head.weight');
      return { rows: outRows, logits: this.mm(hidden, outRows, head, c.vocabSize, H) };
    }
    if (c.kind === 'prm-value-head') {
      const v = matmulRef(hidden, outRows, w('v_head.summary.weight'), 1, H, w('v_head.summary.bias'));
      return { rows: outRows, scores: v.map((z) => 1 / (1 + Math.exp(-z))) };
    }
    const mid = this.mm(hidden, outRows, w('score.0.weight'), H, H, w('score.0.bias')).map((z) => Math.max(z, 0));
    const two = matmulRef(mid, outRows, w('score.2.weight'), 2, H, w('score.2.bias'));
    const scores = new Float32Array(outRows);
    for (let r = 0; r < outRows; r++) scores[r] = 1 / (1 + Math.exp(two[r * 2] - two[r * 2 + 1]));
    return { rows: outRows, scores };
  }

  async copyPages(pairs: Array<[number, number]>): Promise<void> {
    validatePagePairs(pairs, this.numPages);
    for (const [s, d] of pairs) this.kv.copyWithin(d * this.pageFloats, s * this.pageFloats, (s + 1) * this.pageFloats);
  }

  dispose(): void {}
}
