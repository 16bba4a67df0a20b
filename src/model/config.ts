// The Qwen2 model configuration the engine needs, read from a Hugging Face config.json.
import { FormatError } from '../errors.ts';

export type ModelKind = 'causal-lm' | 'prm-value-head' | 'prm-two-class';

export interface Qwen2Config {
  kind: ModelKind;
  /** The `architectures[0]` string from config.json (Qwen2ForCausalLM, Qwen2ForPrmModel, Qwen2ForProcessRewardModel). */
  architecture: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /**
   * How a value-head PRM reads a solution (config.json `prm_input_format`): 'skywork' (bos + problem + "\n",
   * each step followed by "\n"; Skywork-o1-Open-PRM, the default) or 'chat' (the generator's own format:
   * the chat template's prompt, each step followed by "\n\n"). The score is read at each step's last token.
   */
  prmInputFormat: PrmInputFormat;
}

export type PrmInputFormat = 'skywork' | 'chat';
const PRM_INPUT_FORMATS: readonly PrmInputFormat[] = ['skywork', 'chat'];

const ARCHITECTURES: Record<string, ModelKind> = {
  Qwen2ForCausalLM: 'causal-lm',
  Qwen2ForPrmModel: 'prm-value-head',
  Qwen2ForProcessRewardModel: 'prm-two-class',
};

/**
 * The largest value accepted for each size in config.json: far above any released Qwen2 model (Qwen2.5-72B
 * has hidden 8192, 80 layers, 64 heads, intermediate 29568, vocab 152064; the 1M-context Qwen2.5 models
 * 1,010,000 positions), small enough that nothing sized from them can ask for absurd memory.
 */
export const CONFIG_LIMITS = {
  hidden_size: 1 << 16,
  num_hidden_layers: 1 << 10,
  num_attention_heads: 1 << 10,
  num_key_value_heads: 1 << 10,
  intermediate_size: 1 << 18,
  vocab_size: 1 << 21,
  max_position_embeddings: 1 << 22,
} as const;

function positiveInt(file: string, raw: Record<string, unknown>, key: keyof typeof CONFIG_LIMITS, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new FormatError(file, `"${key}" must be a positive integer, got ${JSON.stringify(v)?.slice(0, 40)}`);
  }
  if (v > CONFIG_LIMITS[key]) throw new FormatError(file, `"${key}" is ${v}, above the engine's limit of ${CONFIG_LIMITS[key]}`);
  return v;
}

function positiveNumber(file: string, raw: Record<string, unknown>, key: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new FormatError(file, `"${key}" must be a positive number, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Validates a parsed config.json object and maps it to the engine's config. */
export function parseQwen2Config(raw: unknown, file = 'config.json'): Qwen2Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new FormatError(file, 'not a JSON object');
  const r = raw as Record<string, unknown>;
  const archs = r.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : 'Qwen2ForCausalLM';
  const kind = ARCHITECTURES[architecture];
  if (!kind)
    throw new FormatError(file, `unsupported architecture ${JSON.stringify(architecture.slice(0, 80))} (supported: ${Object.keys(ARCHITECTURES).join(', ')})`);
  if (r.model_type !== undefined && r.model_type !== 'qwen2') {
    throw new FormatError(file, `unsupported model_type ${JSON.stringify(String(r.model_type).slice(0, 40))} (expected "qwen2")`);
  }
  const hiddenSize = positiveInt(file, r, 'hidden_size');
  const numHeads = positiveInt(file, r, 'num_attention_heads');
  const numKvHeads = positiveInt(file, r, 'num_key_value_heads', numHeads);
  if (hiddenSize % numHeads !== 0) throw new FormatError(file, `hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
  if (numHeads % numKvHeads !== 0) throw new FormatError(file, `num_attention_heads ${numHeads} is not divisible by num_key_value_heads ${numKvHeads}`);
  const headDim = hiddenSize / numHeads;
  if (headDim % 2 !== 0) throw new FormatError(file, `head dimension ${headDim} must be even for rotary embeddings`);
  const eos = r.eos_token_id;
  const eosTokenIds = Array.isArray(eos) ? eos.filter((x): x is number => Number.isInteger(x)) : Number.isInteger(eos) ? [eos as number] : [];
  const bos = r.bos_token_id;
  const prmInputFormat = r.prm_input_format ?? 'skywork';
  if (!PRM_INPUT_FORMATS.includes(prmInputFormat as PrmInputFormat)) {
    throw new FormatError(file, `"prm_input_format" must be one of ${PRM_INPUT_FORMATS.join(', ')}, got ${JSON.stringify(prmInputFormat)?.slice(0, 40)}`);
  }
  return {
    kind,
    architecture,
    hiddenSize,
    numLayers: positiveInt(file, r, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: positiveInt(file, r, 'intermediate_size'),
    vocabSize: positiveInt(file, r, 'vocab_size'),
    maxPositions: positiveInt(file, r, 'max_position_embeddings', 4096),
    ropeTheta: positiveNumber(file, r, 'rope_theta', 10000),
    rmsNormEps: positiveNumber(file, r, 'rms_norm_eps', 1e-6),
    tieWordEmbeddings: r.tie_word_embeddings !== false,
    bosTokenId: Number.isInteger(bos) ? (bos as number) : null,
    eosTokenIds,
    prmInputFormat: prmInputFormat as PrmInputFormat,
  };
}

/** The Hugging Face tensor names (and shapes) a Qwen2 checkpoint of this config must hold. */
export function expectedTensors(c: Qwen2Config): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const kvDim = c.numKvHeads * c.headDim;
  m.set('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    m.set(p + 'input_layernorm.weight', [c.hiddenSize]);
    m.set(p + 'self_attn.q_proj.weight', [c.hiddenSize, c.hiddenSize]);
    m.set(p + 'self_attn.q_proj.bias', [c.hiddenSize]);
    m.set(p + 'self_attn.k_proj.weight', [kvDim, c.hiddenSize]);
    m.set(p + 'self_attn.k_proj.bias', [kvDim]);
    m.set(p + 'self_attn.v_proj.weight', [kvDim, c.hiddenSize]);
    m.set(p + 'self_attn.v_proj.bias', [kvDim]);
    m.set(p + 'self_attn.o_proj.weight', [c.hiddenSize, c.hiddenSize]);
    m.set(p + 'post_attention_layernorm.weight', [c.hiddenSize]);
    m.set(p + 'mlp.gate_proj.weight', [c.intermediateSize, c.hiddenSize]);
    m.set(p + 'mlp.up_proj.weight', [c.intermediateSize, c.hiddenSize]);
    m.set(p + 'mlp.down_proj.weight', [c.hiddenSize, c.intermediateSize]);
  }
  m.set('model.norm.weight', [c.hiddenSize]);
  if (c.kind === 'causal-lm' && !c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, c.hiddenSize]);
  if (c.kind === 'prm-value-head') {
    m.set('v_head.summary.weight', [1, c.hiddenSize]);
    m.set('v_head.summary.bias', [1]);
  }
  if (c.kind === 'prm-two-class') {
    m.set('score.0.weight', [c.hiddenSize, c.hiddenSize]);
    m.set('score.0.bias', [c.hiddenSize]);
    m.set('score.2.weight', [2, c.hiddenSize]);
    m.set('score.2.bias', [2]);
  }
  return m;
}

/** KV bytes one token takes in this model (K and V, all layers) at `bytesPerElement` (4: f32, 2: f16). */
export function kvBytesPerToken(c: Qwen2Config, bytesPerElement = 4): number {
  return 2 * c.numLayers * c.numKvHeads * c.headDim * bytesPerElement;
}
