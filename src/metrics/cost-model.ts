// Roofline cost model of one forward call: each part of the pass (the linear layers, attention, the
// output head) takes max(bytes moved / achieved bandwidth, FLOPs / achieved peak); the call adds one
// fixed cost per dispatch and per call. The search's cost-model runner, the memory planner and the
// benchmarks price forward calls with it; traces recorded on this device replay through it.
import { parseQwen2Config, type Qwen2Config } from '../model/config.ts';
import type { CalibrationSample, HardwareProfile } from './hardware-profiles.ts';
import type { ForwardTrace } from '../runtime/types.ts';

/** Weight formats the model prices: the engine's (src/gpu/quant.ts; q8, q4: groups of 32 with f16 scales). */
export type CostWeightFormat = 'f32' | 'f16' | 'bf16' | 'q8' | 'q4';

/** Storage bytes per weight, scales included. */
export const BYTES_PER_WEIGHT: Readonly<Record<CostWeightFormat, number>> = {
  f32: 4,
  f16: 2,
  bf16: 2,
  q8: 1 + 2 / 32,
  q4: 0.5 + 2 / 32,
};

/** A model as the cost model sees it: its config plus how its weights and KV are stored. */
export interface ModelShape {
  name: string;
  config: Qwen2Config;
  weightFormat: CostWeightFormat;
  /** Bytes per K or V element in the cache (2: f16, the engine's default (src/gpu/kv-dtype.ts); 4: f32). */
  kvBytesPerElement: number;
  /** Bytes per activation element between kernels (4: the engine's f32 WGSL; 2: an f16 stack such as vLLM). */
  activationBytesPerElement: number;
}

/** One forward call, in the terms of ForwardTrace (src/runtime/types.ts). */
export interface ForwardCall {
  /** Sequences in the batch. */
  sequences: number;
  /** New tokens over all sequences (decode: one per sequence). */
  newTokens: number;
  /** Tokens already cached over all sequences (the sum of SequenceChunk.start). */
  contextTokens: number;
  /** Rows whose logits / scores are produced; default: one per sequence. */
  outputRows?: number;
  /** Exact (query, key) pairs attended, when known; default assumes equal sequences. */
  attendedPairs?: number;
  /**
   * Cached tokens in distinct K/V pages (pages shared by several sequences, a common prefix, counted
   * once), when known; default: contextTokens (nothing shared).
   */
  distinctContextTokens?: number;
}

export interface CostPart {
  bytes: number;
  flops: number;
  ms: number;
  bound: 'memory' | 'compute';
}

export interface CostBreakdown {
  linear: CostPart;
  attention: CostPart;
  head: CostPart;
  dispatches: number;
  /** Totals over the parts. */
  bytes: number;
  flops: number;
  overheadMs: number;
  ms: number;
}

/** Kernel launches per transformer layer: norm, qkv, rope + KV write, attention, o-proj + residual,
 *  norm, gate/up, SiLU*up, down + residual. Plus embedding, final norm, head, and sampling/scoring. */
export const DISPATCHES_PER_LAYER = 9;
export const DISPATCHES_PER_CALL = 4;

// ---- model shapes ---------------------------------------------------------------------------------

export type KnownModel = 'qwen2.5-math-1.5b' | 'qwen2.5-math-7b' | 'skywork-prm-1.5b' | 'qwen2.5-math-prm-7b';

const QWEN_1_5B = { hidden_size: 1536, num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2, intermediate_size: 8960, vocab_size: 151936 };
const QWEN_7B = { hidden_size: 3584, num_hidden_layers: 28, num_attention_heads: 28, num_key_value_heads: 4, intermediate_size: 18944, vocab_size: 152064 };

const KNOWN_CONFIGS: Record<KnownModel, Record<string, unknown>> = {
  'qwen2.5-math-1.5b': { architectures: ['Qwen2ForCausalLM'], ...QWEN_1_5B, tie_word_embeddings: true, eos_token_id: [151645, 151643], bos_token_id: 151643 },
  'qwen2.5-math-7b': { architectures: ['Qwen2ForCausalLM'], ...QWEN_7B, tie_word_embeddings: false, eos_token_id: [151645, 151643], bos_token_id: 151643 },
  'skywork-prm-1.5b': { architectures: ['Qwen2ForPrmModel'], ...QWEN_1_5B, tie_word_embeddings: false, eos_token_id: 151643, bos_token_id: 151643 },
  'qwen2.5-math-prm-7b': { architectures: ['Qwen2ForProcessRewardModel'], ...QWEN_7B, tie_word_embeddings: false, eos_token_id: 151643, bos_token_id: 151643 },
};

export interface ShapeOptions {
  weightFormat?: CostWeightFormat;
  kvBytesPerElement?: number;
  activationBytesPerElement?: number;
}

/** The shape of a published model (Qwen2.5-Math-1.5B/7B, Skywork PRM 1.5B, Qwen2.5-Math-PRM-7B). */
export function modelShape(name: KnownModel, options: ShapeOptions = {}): ModelShape {
  const raw = KNOWN_CONFIGS[name];
  return shapeFromConfig(parseQwen2Config({ model_type: 'qwen2', max_position_embeddings: 4096, ...raw }, `${name}/config.json`), options, name);
}

/** A shape for any config (the bundled models, test models). Defaults: q4 weights, f32 KV (the engine passes
 *  its own K/V size: 2 bytes with its default f16 storage). */
export function shapeFromConfig(config: Qwen2Config, options: ShapeOptions = {}, name = config.architecture): ModelShape {
  return {
    name,
    config,
    weightFormat: options.weightFormat ?? 'q4',
    kvBytesPerElement: options.kvBytesPerElement ?? 4,
    activationBytesPerElement: options.activationBytesPerElement ?? 4,
  };
}

// ---- sizes ----------------------------------------------------------------------------------------

/** Weights of the matrices every token goes through, per layer (q, k, v, o, gate, up, down). */
export function linearParamsPerLayer(c: Qwen2Config): number {
  const kvDim = c.numKvHeads * c.headDim;
  return 2 * c.hiddenSize * c.hiddenSize + 2 * kvDim * c.hiddenSize + 3 * c.intermediateSize * c.hiddenSize;
}

/** Weights of the output head: the LM head for a generator, the score head for a PRM. */
export function headParams(c: Qwen2Config): number {
  if (c.kind === 'causal-lm') return c.vocabSize * c.hiddenSize;
  if (c.kind === 'prm-two-class') return c.hiddenSize * c.hiddenSize + 2 * c.hiddenSize;
  return c.hiddenSize;
}

/** Bytes the weights take on the device (embeddings stored once when tied with the LM head). */
export function weightBytes(shape: ModelShape): number {
  const c = shape.config;
  const bpw = BYTES_PER_WEIGHT[shape.weightFormat];
  const embed = c.vocabSize * c.hiddenSize;
  const head = c.kind === 'causal-lm' && c.tieWordEmbeddings ? 0 : headParams(c);
  const norms = (2 * c.numLayers + 1) * c.hiddenSize * 4;
  return bpw * (c.numLayers * linearParamsPerLayer(c) + embed + head) + norms;
}

/** KV bytes per cached token (K and V, every layer). */
export function kvBytesPerTokenOf(shape: ModelShape): number {
  const c = shape.config;
  return 2 * c.numLayers * c.numKvHeads * c.headDim * shape.kvBytesPerElement;
}

/** Scratch activations of a call of up to `batchTokens` new tokens and `outputRows` head rows, bytes. */
export function activationBytes(shape: ModelShape, batchTokens: number, outputRows = batchTokens): number {
  const c = shape.config;
  const perToken = (4 * c.hiddenSize + 2 * c.numKvHeads * c.headDim + 2 * c.intermediateSize) * 4;
  const headRows = c.kind === 'causal-lm' ? outputRows * c.vocabSize * 4 : outputRows * 8;
  return batchTokens * perToken + headRows;
}

// ---- time -----------------------------------------------------------------------------------------

function part(profile: HardwareProfile, bytes: number, flops: number): CostPart {
  const memoryMs = (bytes / (profile.bandwidth * profile.bandwidthEfficiency)) * 1000;
  const computeMs = (flops / (profile.peakFlops * profile.computeEfficiency)) * 1000;
  return { bytes, flops, ms: Math.max(memoryMs, computeMs), bound: memoryMs >= computeMs ? 'memory' : 'compute' };
}

/** The cost of one forward call, part by part. */
export function forwardCost(profile: HardwareProfile, shape: ModelShape, call: ForwardCall): CostBreakdown {
  const c = shape.config;
  if (call.newTokens <= 0) {
    const none = part(profile, 0, 0);
    return { linear: none, attention: none, head: none, dispatches: 0, bytes: 0, flops: 0, overheadMs: 0, ms: 0 };
  }
  const seqs = Math.max(1, call.sequences);
  const n = call.newTokens;
  const rows = call.outputRows ?? call.sequences;
  const bpw = BYTES_PER_WEIGHT[shape.weightFormat];
  const kvPerToken = kvBytesPerTokenOf(shape);
  const qDim = c.numHeads * c.headDim;

  // Linear layers: weights read once per call (tiles reuse them across tokens), activations in and out.
  const linParams = c.numLayers * linearParamsPerLayer(c);
  const actBytes = n * c.numLayers * (6 * c.hiddenSize + 3 * c.intermediateSize) * (shape.activationBytesPerElement ?? 4) + n * c.hiddenSize * bpw;
  const linear = part(profile, linParams * bpw + actBytes, 2 * linParams * n);

  // Attention: every sequence's cached K/V read, the new K/V written; QK^T and PV per pair. A page that
  // several sequences share comes from DRAM once; the other reads hit L2 while one layer's distinct K/V
  // fits there (a layer's attention runs as one dispatch over the batch), and miss in proportion past it.
  const pairs = call.attendedPairs ?? (n * call.contextTokens) / seqs + (n * (n / seqs + 1)) / 2;
  const distinct = Math.min(call.contextTokens, call.distinctContextTokens ?? call.contextTokens);
  const layerDistinctBytes = (distinct * kvPerToken) / c.numLayers;
  const missRate = layerDistinctBytes <= (profile.l2Bytes ?? 0) ? 0 : 1 - (profile.l2Bytes ?? 0) / layerDistinctBytes;
  const kvReadTokens = distinct + (call.contextTokens - distinct) * missRate;
  const attnBytes = (kvReadTokens + 2 * n) * kvPerToken + n * c.numLayers * 2 * qDim * 4;
  const attention = part(profile, attnBytes, 4 * qDim * c.numLayers * pairs);

  // Head: only the requested rows go through it.
  const hp = headParams(c);
  const head = rows > 0 ? part(profile, hp * bpw + rows * (c.hiddenSize + (c.kind === 'causal-lm' ? c.vocabSize : 2)) * 4, 2 * hp * rows) : part(profile, 0, 0);

  const dispatches = c.numLayers * DISPATCHES_PER_LAYER + DISPATCHES_PER_CALL;
  const overheadMs = dispatches * profile.dispatchMs + profile.callMs;
  return {
    linear,
    attention,
    head,
    dispatches,
    bytes: linear.bytes + attention.bytes + head.bytes,
    flops: linear.flops + attention.flops + head.flops,
    overheadMs,
    ms: linear.ms + attention.ms + head.ms + overheadMs,
  };
}

/** Predicted wall-clock time of one forward call, ms. */
export function predictForwardMs(profile: HardwareProfile, shape: ModelShape, call: ForwardCall): number {
  return forwardCost(profile, shape, call).ms;
}

/** Predicted time of a decode step of `batch` sequences each holding `contextPerSequence` tokens. */
export function predictDecodeMs(profile: HardwareProfile, shape: ModelShape, batch: number, contextPerSequence: number): number {
  return predictForwardMs(profile, shape, { sequences: batch, newTokens: batch, contextTokens: batch * contextPerSequence });
}

/** Time to move `bytes` between host and device memory (KV offloading), ms. */
export function hostTransferMs(profile: HardwareProfile, bytes: number): number {
  return (bytes / profile.hostLinkBandwidth) * 1000;
}

/**
 * The batch size past which a decode step stops being (nearly) free: the largest batch whose predicted
 * step time is within `slack` (e.g. 0.1 = 10%) of a batch of one. Bounds speculative work.
 */
export function nearlyFreeDecodeBatch(profile: HardwareProfile, shape: ModelShape, contextPerSequence: number, slack = 0.1, maxBatch = 4096): number {
  const base = predictDecodeMs(profile, shape, 1, contextPerSequence);
  let best = 1;
  for (let b = 1; b <= maxBatch; b *= 2) {
    if (predictDecodeMs(profile, shape, b, contextPerSequence) <= base * (1 + slack)) best = b;
    else break;
  }
  return best;
}

/** A timed call on this device as a calibration sample for measuredProfile() (bytes, FLOPs, dispatches). */
export function calibrationSample(shape: ModelShape, call: ForwardCall, ms: number): CalibrationSample {
  // Bytes, FLOPs and dispatches do not depend on the profile; any one serves to compute them.
  const c = forwardCost(UNIT_PROFILE, shape, call);
  return { bytes: c.bytes, flops: c.flops, dispatches: c.dispatches, ms };
}

const UNIT_PROFILE: HardwareProfile = {
  name: 'unit',
  label: 'unit rates',
  memoryBytes: 1,
  bandwidth: 1,
  peakFlops: 1,
  bandwidthEfficiency: 1,
  computeEfficiency: 1,
  dispatchMs: 0,
  callMs: 0,
  hostLinkBandwidth: 1,
};

/** Replays recorded forward calls on another profile: predicted ms per model and in total. */
export function replayTrace(
  profile: HardwareProfile,
  shapes: { generator: ModelShape; verifier: ModelShape },
  trace: readonly ForwardTrace[],
): { generatorMs: number; verifierMs: number; totalMs: number } {
  let generatorMs = 0;
  let verifierMs = 0;
  for (const t of trace) {
    const ms = predictForwardMs(profile, shapes[t.model], { sequences: t.sequences, newTokens: t.newTokens, contextTokens: t.contextTokens });
    if (t.model === 'generator') generatorMs += ms;
    else verifierMs += ms;
  }
  return { generatorMs, verifierMs, totalMs: generatorMs + verifierMs };
}
