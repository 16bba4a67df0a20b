// Writes GGUF v3 files: the fixture tool's GGUF output and the GGUF tests' inputs. Metadata values
// carry their GGUF type explicitly; tensor data is quantized per tensor and streamed out in order.
import { expectedTensors, type Qwen2Config } from '../src/model/config.ts';
import { GGML_BLOCKS, GgmlType, quantize } from '../src/model/gguf-quant.ts';
import type { ModelSource } from '../src/model/source.ts';

export type GgufMeta =
  | { type: 'u32' | 'i32' | 'f32' | 'u64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: string[] }
  | { type: 'i32[]'; value: number[] }
  | { type: 'f32[]'; value: number[] };

export interface GgufTensorSpec {
  name: string;
  /** GGUF order: dims[0] contiguous (the reverse of the Hugging Face shape). */
  dims: number[];
  type: GgmlType;
}

const enc = new TextEncoder();

/** Little-endian byte builder. */
class Bytes {
  private parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  i32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    this.push(b);
  }
  f32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }
  u64(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  str(s: string): void {
    const b = enc.encode(s);
    this.u64(b.length);
    this.push(b);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

const VT = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10 } as const;

export function tensorBytes(t: GgufTensorSpec): number {
  const blk = GGML_BLOCKS[t.type]!;
  return (t.dims.reduce((a, b) => a * b, 1) / blk.elements) * blk.bytes;
}

/** The header (through the padding before the data); tensors are laid out in order, each aligned. */
export function encodeGgufHeader(meta: Record<string, GgufMeta>, tensors: GgufTensorSpec[], alignment = 32): Uint8Array {
  const b = new Bytes();
  b.push(enc.encode('GGUF'));
  b.u32(3);
  b.u64(tensors.length);
  b.u64(Object.keys(meta).length);
  for (const [key, m] of Object.entries(meta)) {
    b.str(key);
    switch (m.type) {
      case 'u32':
        b.u32(VT.u32);
        b.u32(m.value);
        break;
      case 'i32':
        b.u32(VT.i32);
        b.i32(m.value);
        break;
      case 'f32':
        b.u32(VT.f32);
        b.f32(m.value);
        break;
      case 'u64':
        b.u32(VT.u64);
        b.u64(m.value);
        break;
      case 'bool':
        b.u32(VT.bool);
        b.push(new Uint8Array([m.value ? 1 : 0]));
        break;
      case 'string':
        b.u32(VT.string);
        b.str(m.value);
        break;
      case 'string[]':
        b.u32(VT.array);
        b.u32(VT.string);
        b.u64(m.value.length);
        m.value.forEach((s) => b.str(s));
        break;
      case 'i32[]':
        b.u32(VT.array);
        b.u32(VT.i32);
        b.u64(m.value.length);
        m.value.forEach((v) => b.i32(v));
        break;
      case 'f32[]':
        b.u32(VT.array);
        b.u32(VT.f32);
        b.u64(m.value.length);
        m.value.forEach((v) => b.f32(v));
        break;
    }
  }
  let offset = 0;
  for (const t of tensors) {
    b.str(t.name);
    b.u32(t.dims.length);
    t.dims.forEach((d) => b.u64(d));
    b.u32(t.type);
    b.u64(offset);
    offset += Math.ceil(tensorBytes(t) / alignment) * alignment;
  }
  b.push(new Uint8Array((alignment - (b.length % alignment)) % alignment));
  return b.concat();
}

/** Pads tensor data to the alignment. */
export function padTo(bytes: Uint8Array, alignment = 32): Uint8Array {
  const padded = Math.ceil(bytes.length / alignment) * alignment;
  if (padded === bytes.length) return bytes;
  const out = new Uint8Array(padded);
  out.set(bytes);
  return out;
}

/** llama.cpp's convention: 1-D tensors stay F32; a matrix whose rows do not fit the blocks falls back to Q8_0 or F16. */
export function ggufTypeFor(dims: number[], wanted: GgmlType): GgmlType {
  if (dims.length === 1) return GgmlType.F32;
  if (dims[0] % GGML_BLOCKS[wanted]!.elements === 0) return wanted;
  return dims[0] % 32 === 0 ? GgmlType.Q8_0 : GgmlType.F16;
}

/** The qwen2 metadata keys llama.cpp writes, from a config. */
export function qwen2Metadata(c: Qwen2Config, name = 'fixture'): Record<string, GgufMeta> {
  return {
    'general.architecture': { type: 'string', value: 'qwen2' },
    'general.name': { type: 'string', value: name },
    'general.alignment': { type: 'u32', value: 32 },
    'qwen2.block_count': { type: 'u32', value: c.numLayers },
    'qwen2.context_length': { type: 'u32', value: c.maxPositions },
    'qwen2.embedding_length': { type: 'u32', value: c.hiddenSize },
    'qwen2.feed_forward_length': { type: 'u32', value: c.intermediateSize },
    'qwen2.attention.head_count': { type: 'u32', value: c.numHeads },
    'qwen2.attention.head_count_kv': { type: 'u32', value: c.numKvHeads },
    'qwen2.rope.freq_base': { type: 'f32', value: c.ropeTheta },
    'qwen2.attention.layer_norm_rms_epsilon': { type: 'f32', value: c.rmsNormEps },
  };
}

/** tokenizer.ggml.* metadata from a byte-level BPE tokenizer.json (what llama.cpp's converter writes). */
export function tokenizerMetadata(
  tokenizerJson: Record<string, unknown>,
  tokenizerConfig: Record<string, unknown>,
  vocabSize: number,
): Record<string, GgufMeta> {
  const model = tokenizerJson.model as { vocab: Record<string, number>; merges: Array<string | [string, string]> };
  const added = (tokenizerJson.added_tokens ?? []) as Array<{ id: number; content: string; special: boolean }>;
  const tokens: string[] = Array.from({ length: vocabSize }, (_, i) => `[PAD${i}]`);
  const types: number[] = new Array(vocabSize).fill(5);
  for (const [t, id] of Object.entries(model.vocab))
    if (id < vocabSize) {
      tokens[id] = t;
      types[id] = 1;
    }
  for (const a of added)
    if (a.id < vocabSize) {
      tokens[a.id] = a.content;
      types[a.id] = a.special ? 3 : 4;
    }
  const id = (key: string) => {
    const content = tokenizerConfig[key];
    return typeof content === 'string' ? tokens.indexOf(content) : -1;
  };
  const meta: Record<string, GgufMeta> = {
    'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
    'tokenizer.ggml.pre': { type: 'string', value: 'qwen2' },
    'tokenizer.ggml.tokens': { type: 'string[]', value: tokens },
    'tokenizer.ggml.token_type': { type: 'i32[]', value: types },
    'tokenizer.ggml.merges': { type: 'string[]', value: model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)) },
  };
  if (id('eos_token') >= 0) meta['tokenizer.ggml.eos_token_id'] = { type: 'u32', value: id('eos_token') };
  if (id('pad_token') >= 0) meta['tokenizer.ggml.padding_token_id'] = { type: 'u32', value: id('pad_token') };
  if (typeof tokenizerConfig.chat_template === 'string') meta['tokenizer.chat_template'] = { type: 'string', value: tokenizerConfig.chat_template };
  return meta;
}

const HF_TO_GGUF: Array<[RegExp, string]> = [
  [/^model\.embed_tokens\.weight$/, 'token_embd.weight'],
  [/^model\.norm\.weight$/, 'output_norm.weight'],
  [/^lm_head\.weight$/, 'output.weight'],
  [/^model\.layers\.(\d+)\.input_layernorm\.weight$/, 'blk.$1.attn_norm.weight'],
  [/^model\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)$/, 'blk.$1.attn_q.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.k_proj\.(weight|bias)$/, 'blk.$1.attn_k.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.v_proj\.(weight|bias)$/, 'blk.$1.attn_v.$2'],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/, 'blk.$1.attn_output.weight'],
  [/^model\.layers\.(\d+)\.post_attention_layernorm\.weight$/, 'blk.$1.ffn_norm.weight'],
  [/^model\.layers\.(\d+)\.mlp\.gate_proj\.weight$/, 'blk.$1.ffn_gate.weight'],
  [/^model\.layers\.(\d+)\.mlp\.up_proj\.weight$/, 'blk.$1.ffn_up.weight'],
  [/^model\.layers\.(\d+)\.mlp\.down_proj\.weight$/, 'blk.$1.ffn_down.weight'],
];

export function ggufTensorName(hf: string): string {
  for (const [re, out] of HF_TO_GGUF) if (re.test(hf)) return hf.replace(re, out);
  throw new Error(`no GGUF name for ${hf}`);
}

/** The whole GGUF file of a causal LM as a stream of byte chunks (header first, then one tensor at a time). */
export async function* writeGgufModel(
  config: Qwen2Config,
  source: ModelSource,
  type: keyof typeof GgmlType,
  tokenizer: { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } | null,
): AsyncIterable<Uint8Array> {
  if (config.kind !== 'causal-lm') throw new Error('GGUF fixtures are causal LMs only');
  const wanted = GgmlType[type];
  const specs = [...expectedTensors(config)].map(([name, shape]) => {
    const dims = [...shape].reverse();
    return { hf: name, name: ggufTensorName(name), dims, type: ggufTypeFor(dims, wanted) };
  });
  const meta: Record<string, GgufMeta> = { ...qwen2Metadata(config), 'general.file_type': { type: 'u32', value: wanted } };
  if (config.bosTokenId !== null) meta['tokenizer.ggml.bos_token_id'] = { type: 'u32', value: config.bosTokenId };
  if (tokenizer) Object.assign(meta, tokenizerMetadata(tokenizer.tokenizerJson, tokenizer.tokenizerConfig, config.vocabSize));
  if (config.eosTokenIds.length) meta['tokenizer.ggml.eos_token_id'] = { type: 'u32', value: config.eosTokenIds[0] };
  yield encodeGgufHeader(meta, specs);
  let i = 0;
  for await (const t of source.tensors()) {
    const spec = specs[i++];
    if (!spec || spec.hf !== t.name) throw new Error(`GGUF writer: tensor order mismatch at ${t.name}`);
    yield padTo(quantize(spec.type, t.values));
  }
}
