// Where each checkpoint tensor goes in a runner's weights, shared by the WebGPU and the WebAssembly
// runners: the slots (q/k/v fused into one matrix per layer, norms and biases as vectors, the heads of
// each model kind) and the loop that streams a source's tensors into them, checking names, shapes,
// duplicates, missing tensors and non-finite values on the way. Each runner says only how a matrix or
// vector is allocated and how rows or values are written into it.
import { FormatError, OptionError } from '../errors.ts';
import { checkKvDtype, checkKvHeadDim, DEFAULT_KV_DTYPE, type KvDtype } from '../gpu/kv-dtype.ts';
import { MAX_BATCH_TOKENS } from './forward-batch.ts';
import { expectedTensors, type Qwen2Config } from '../model/config.ts';
import type { ModelSource, TensorRecord } from '../model/source.ts';
import { nonFinite, packMatrix, WEIGHT_FORMATS, type PackedMatrix, type WeightFormat } from '../gpu/quant.ts';

export interface LayerSlots<M, V> {
  inputNorm: V;
  qkv: M;
  qkvBias: V;
  o: M;
  postNorm: V;
  gate: M;
  up: M;
  down: M;
}

export interface ModelSlots<M, V> {
  embed: M;
  layers: LayerSlots<M, V>[];
  finalNorm: V;
  lmHead?: M;
  vHead?: { w: M; b: V };
  score?: { w0: M; b0: V; w2: M; b2: V };
}

/** The shapes both routes' kernels assume (quantized groups of 32 along a row; 4-wide vector loads). */
export function checkKernelShapes(c: Qwen2Config): void {
  const file = 'config.json';
  if (c.hiddenSize % 32 !== 0) throw new FormatError(file, `hidden_size ${c.hiddenSize} must be a multiple of 32 for the engine's kernels`);
  if (c.intermediateSize % 32 !== 0) throw new FormatError(file, `intermediate_size ${c.intermediateSize} must be a multiple of 32 for the engine's kernels`);
  if (c.headDim % 4 !== 0) throw new FormatError(file, `head dimension ${c.headDim} must be a multiple of 4 for the engine's kernels`);
}

/** What both runners check of their options first: the model's shapes, the weight format, page size,
 *  batch size and K/V storage (with its defaults filled in). */
export function checkRunnerOptions(
  c: Qwen2Config,
  o: { weightFormat: WeightFormat; pageSize?: number; maxBatchTokens?: number; kvDtype?: KvDtype },
): { format: WeightFormat; pageSize: number; maxBatchTokens: number; kvDtype: KvDtype } {
  checkKernelShapes(c);
  const pageSize = o.pageSize ?? 16;
  const maxBatchTokens = o.maxBatchTokens ?? MAX_BATCH_TOKENS;
  const format = o.weightFormat;
  if (!WEIGHT_FORMATS.includes(format)) throw new OptionError(`weight format must be one of ${WEIGHT_FORMATS.join(', ')}, got ${String(format)}`);
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new OptionError(`page size must be a positive integer, got ${pageSize}`);
  if (!Number.isInteger(maxBatchTokens) || maxBatchTokens < 1) throw new OptionError(`maxBatchTokens must be a positive integer, got ${maxBatchTokens}`);
  const kvDtype = checkKvDtype(o.kvDtype ?? DEFAULT_KV_DTYPE);
  checkKvHeadDim(c.headDim, kvDtype);
  return { format, pageSize, maxBatchTokens, kvDtype };
}

/**
 * Allocates every slot. `f32` is set for the heads' small output matrices (v_head, score.2), which stay
 * f32 whatever the weight format (score.0 is h x h: it follows the format).
 */
export function allocateSlots<M, V>(
  c: Qwen2Config,
  matrix: (rows: number, cols: number, label: string, f32: boolean) => M,
  vector: (n: number, label: string) => V,
): ModelSlots<M, V> {
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const kvDim = c.numKvHeads * c.headDim;
  const m = (rows: number, cols: number, label: string) => matrix(rows, cols, label, false);
  const layers = Array.from({ length: c.numLayers }, (_, i) => ({
    inputNorm: vector(H, `l${i}.input_norm`),
    qkv: m(H + 2 * kvDim, H, `l${i}.qkv`),
    qkvBias: vector(H + 2 * kvDim, `l${i}.qkv_bias`),
    o: m(H, H, `l${i}.o`),
    postNorm: vector(H, `l${i}.post_norm`),
    gate: m(I, H, `l${i}.gate`),
    up: m(I, H, `l${i}.up`),
    down: m(H, I, `l${i}.down`),
  }));
  const w: ModelSlots<M, V> = { embed: m(c.vocabSize, H, 'embed'), layers, finalNorm: vector(H, 'final_norm') };
  if (c.kind === 'causal-lm' && !c.tieWordEmbeddings) w.lmHead = m(c.vocabSize, H, 'lm_head');
  if (c.kind === 'prm-value-head') w.vHead = { w: matrix(1, H, 'v_head', true), b: vector(1, 'v_head.bias') };
  if (c.kind === 'prm-two-class')
    w.score = { w0: m(H, H, 'score.0'), b0: vector(H, 'score.0.bias'), w2: matrix(2, H, 'score.2', true), b2: vector(2, 'score.2.bias') };
  return w;
}

export function slotMatrices<M, V>(w: ModelSlots<M, V>): M[] {
  const all = [w.embed, w.lmHead, w.vHead?.w, w.score?.w0, w.score?.w2, ...w.layers.flatMap((l) => [l.qkv, l.o, l.gate, l.up, l.down])];
  return all.filter((m): m is M => m !== undefined);
}

export function slotVectors<M, V>(w: ModelSlots<M, V>): V[] {
  const all = [w.finalNorm, w.vHead?.b, w.score?.b0, w.score?.b2, ...w.layers.flatMap((l) => [l.inputNorm, l.qkvBias, l.postNorm])];
  return all.filter((v): v is V => v !== undefined);
}

/** The tensor in `format`: the file's own packing where it is that format exactly, else quantized from its values. */
export function packTensor(t: TensorRecord, format: WeightFormat, rows: number, cols: number): PackedMatrix {
  return t.packed?.format === format ? t.packed : packMatrix(t.values, rows, cols, format);
}

export interface SlotWriter<M, V> {
  /** Writes a [rows, cols] matrix into `m` from row `rowStart`; `pack` gives it in a weight format. */
  matrix(m: M, rowStart: number, pack: (format: WeightFormat) => PackedMatrix, rows: number, cols: number): void;
  /** Writes `values` into `v` from element `offset`. */
  vector(v: V, offset: number, values: Float32Array): void;
  /** Called after each tensor the model uses. */
  tensorDone?(): void;
}

/** Streams the source's tensors into the slots, one tensor in JS memory at a time. */
export async function loadSlots<M, V>(
  source: ModelSource,
  w: ModelSlots<M, V>,
  put: SlotWriter<M, V>,
  onProgress?: Parameters<ModelSource['tensors']>[0],
): Promise<void> {
  const c = source.config;
  const H = c.hiddenSize;
  const kvDim = c.numKvHeads * c.headDim;
  const file = source.name;
  const expected = expectedTensors(c);
  const seen = new Set<string>();
  for await (const t of source.tensors(onProgress)) {
    const shape = expected.get(t.name);
    if (!shape) continue; // e.g. lm_head.weight of a tied checkpoint, rotary caches: not used
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError(file, `tensor ${t.name} has shape [${t.shape}], expected [${shape}]`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (t.packed ? t.packed.rows * t.packed.cols !== count : t.values.length !== count)
      throw new FormatError(file, `tensor ${t.name} has ${t.packed ? t.packed.rows * t.packed.cols : t.values.length} values for shape [${shape}]`);
    if (seen.has(t.name)) throw new FormatError(file, `tensor ${t.name} appears twice`);
    seen.add(t.name);
    // A packed tensor is checked as it is stored, without widening it.
    const bad = nonFinite(t.packed ?? t.values);
    if (bad) throw new FormatError(file, `tensor ${t.name} holds a non-finite ${bad.what} at index ${bad.index}`);
    const [rows, cols] = [shape[0], shape[1] ?? 1];
    const matrix = (m: M, rowStart = 0) => put.matrix(m, rowStart, (f) => packTensor(t, f, rows, cols), rows, cols);
    const vector = (v: V, offset = 0) => put.vector(v, offset, t.values);
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(t.name);
    if (m) {
      const L = w.layers[Number(m[1])];
      const slots: Record<string, () => void> = {
        'input_layernorm.weight': () => vector(L.inputNorm),
        'post_attention_layernorm.weight': () => vector(L.postNorm),
        'self_attn.q_proj.weight': () => matrix(L.qkv),
        'self_attn.k_proj.weight': () => matrix(L.qkv, H),
        'self_attn.v_proj.weight': () => matrix(L.qkv, H + kvDim),
        'self_attn.q_proj.bias': () => vector(L.qkvBias),
        'self_attn.k_proj.bias': () => vector(L.qkvBias, H),
        'self_attn.v_proj.bias': () => vector(L.qkvBias, H + kvDim),
        'self_attn.o_proj.weight': () => matrix(L.o),
        'mlp.gate_proj.weight': () => matrix(L.gate),
        'mlp.up_proj.weight': () => matrix(L.up),
        'mlp.down_proj.weight': () => matrix(L.down),
      };
      slots[m[2]]?.();
    } else if (t.name === 'model.embed_tokens.weight') matrix(w.embed);
    else if (t.name === 'model.norm.weight') vector(w.finalNorm);
    else if (t.name === 'lm_head.weight' && w.lmHead) matrix(w.lmHead);
    else if (t.name === 'v_head.summary.weight' && w.vHead) matrix(w.vHead.w);
    else if (t.name === 'v_head.summary.bias' && w.vHead) vector(w.vHead.b);
    else if (t.name === 'score.0.weight' && w.score) matrix(w.score.w0);
    else if (t.name === 'score.0.bias' && w.score) vector(w.score.b0);
    else if (t.name === 'score.2.weight' && w.score) matrix(w.score.w2);
    else if (t.name === 'score.2.bias' && w.score) vector(w.score.b2);
    put.tensorDone?.();
  }
  const missing = [...expected.keys()].filter((n) => !seen.has(n));
  if (missing.length) throw new FormatError(file, `missing tensor ${missing[0]}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`);
}
