// A model in one GGUF file: qwen2 metadata mapped to the Hugging Face config, GGUF tensor names mapped
// to Hugging Face names (dims reversed: GGUF lists the contiguous dimension first), the tokenizer from
// a tokenizer.json next to the file or from the GGUF metadata, and tensors dequantized one at a time.
import { FormatError } from '../errors.ts';
import { parseQwen2Config, type Qwen2Config } from './config.ts';
import { parseGenerationConfig } from './generation-config.ts';
import { readGgufHeader, readGgufTensor, type GgufFile, type GgufTensorInfo, type GgufValue } from './gguf.ts';
import { exactFormat, packedFromGguf, packsExactly } from './gguf-quant.ts';
import { ggufTokenizerFiles } from './gguf-tokenizer.ts';
import { quote } from './json-guard.ts';
import { readHfTokenizer, type HfModel } from './hf-loader.ts';
import { readRange, type ByteFile, type FileSet } from './sources/byte-file.ts';
import { packedRecord, storedFormatOf, streamTensors, type LoadProgress, type ModelSource, type TensorRecord } from './source.ts';
import { checkTensors } from './tensor-check.ts';
import { Tokenizer } from './tokenizer.ts';

const LAYER_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};
const GLOBAL_NAMES: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

/** The Hugging Face name of a GGUF tensor (unknown names pass through and are reported as unexpected). */
export function hfTensorName(gguf: string): string {
  if (GLOBAL_NAMES[gguf]) return GLOBAL_NAMES[gguf];
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(gguf);
  if (m && LAYER_NAMES[m[2]]) return `model.layers.${Number(m[1])}.${LAYER_NAMES[m[2]]}.${m[3]}`;
  return gguf;
}

/** Maps qwen2.* metadata onto a config.json object and validates it with the same parser. */
export function ggufConfig(g: GgufFile): Qwen2Config {
  const meta = g.metadata;
  const name = g.file.name;
  const arch = meta.get('general.architecture');
  if (arch !== 'qwen2') throw new FormatError(name, `unsupported general.architecture ${quote(String(arch), 40)} (supported: qwen2)`);
  // f32 metadata (rope base, norm epsilon) read back as the decimal it was written from: 1e-6, not 9.99999997e-7.
  const num = (key: string): GgufValue | undefined => {
    const v = meta.get(`qwen2.${key}`);
    return typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(7)) : v;
  };
  const embd = g.tensors.find((t) => t.name === 'token_embd.weight');
  if (embd?.dims.length !== 2) throw new FormatError(name, 'token_embd.weight is missing or not a matrix');
  const eos = meta.get('tokenizer.ggml.eos_token_id');
  const raw = {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: num('embedding_length'),
    num_hidden_layers: num('block_count'),
    num_attention_heads: num('attention.head_count'),
    num_key_value_heads: num('attention.head_count_kv'),
    intermediate_size: num('feed_forward_length'),
    vocab_size: embd.dims[1],
    max_position_embeddings: num('context_length'),
    rope_theta: num('rope.freq_base'),
    rms_norm_eps: num('attention.layer_norm_rms_epsilon'),
    tie_word_embeddings: !g.tensors.some((t) => t.name === 'output.weight'),
    bos_token_id: meta.get('tokenizer.ggml.bos_token_id'),
    eos_token_id: eos,
  };
  return parseQwen2Config(raw, `${name} (qwen2 metadata)`);
}

/** One tensor: matrices in one of the engine's formats as their bytes repacked (values only if asked for), others dequantized. */
async function readTensor(file: ByteFile, t: { info: GgufTensorInfo; name: string; shape: number[] }, onBytes: (n: number) => void): Promise<TensorRecord> {
  if (t.shape.length === 2 && packsExactly(t.info.type, t.shape[1])) {
    const bytes = await readRange(file, t.info.begin, t.info.end - t.info.begin, `tensor ${t.name}`);
    onBytes(bytes.length);
    const packed = packedFromGguf(t.info.type, bytes, t.shape[0], t.shape[1]);
    if (packed) return packedRecord(t.name, t.shape, packed);
  }
  return { name: t.name, shape: t.shape, values: await readGgufTensor(file, t.info, onBytes) };
}

export async function loadGgufModel(files: FileSet, onProgress?: (p: LoadProgress) => void): Promise<HfModel> {
  const primary = files.primary ?? 'model.gguf';
  const file = await files.open(primary);
  if (!file) throw new FormatError(files.name, `${primary} not found`);
  const g = await readGgufHeader(file);
  onProgress?.({ phase: 'parse', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  const config = ggufConfig(g);
  const generationConfig = parseGenerationConfig(undefined, config);
  let tokenizer = await readHfTokenizer(files, generationConfig.eosTokenIds);
  if (!tokenizer) {
    const t = ggufTokenizerFiles(file.name, g.metadata);
    if (t)
      tokenizer = new Tokenizer(t.tokenizerJson, t.tokenizerConfig, { eosTokenIds: generationConfig.eosTokenIds, file: `${file.name} (tokenizer metadata)` });
  }
  const mapped = g.tensors.map((t) => ({ info: t, name: hfTensorName(t.name), shape: [...t.dims].reverse() }));
  const wanted = checkTensors(file.name, config, mapped);
  const plan = mapped.filter((t) => wanted.has(t.name));
  const bytesTotal = plan.reduce((a, t) => a + t.info.end - t.info.begin, 0);
  const phase = files.remote ? 'download' : 'parse';
  const source: ModelSource = {
    name: file.name,
    config,
    storedFormat: storedFormatOf(plan.map((t) => ({ name: t.name, shape: t.shape, format: exactFormat(t.info.type) }))),
    tensors: (progress) =>
      streamTensors(
        plan,
        {
          phase,
          bytesTotal,
          tensorsTotal: plan.length,
          bytesOf: (t) => t.info.end - t.info.begin,
          read: (t, onBytes) => readTensor(file, t, onBytes),
        },
        progress,
      ),
  };
  return { config, generationConfig, tokenizer, source };
}
