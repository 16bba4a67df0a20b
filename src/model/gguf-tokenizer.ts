// A tokenizer.json-shaped object built from GGUF tokenizer metadata (tokenizer.ggml.*), for files that
// come without a tokenizer.json. Supports the byte-level BPE ("gpt2") tokenizers of Qwen2 models.
import { FormatError } from '../errors.ts';
import type { GgufValue } from './gguf.ts';
import { quote } from './json-guard.ts';

/** Pre-tokenizer split patterns by `tokenizer.ggml.pre` (the same regexes as the models' tokenizer.json). */
const PRE_PATTERNS: Record<string, string> = {
  qwen2: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  gpt2: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
};
PRE_PATTERNS.default = PRE_PATTERNS.gpt2;

/** llama.cpp token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
const CONTROL = 3;
const USER_DEFINED = 4;

export interface GgufTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

function stringList(file: string, v: GgufValue | undefined, key: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new FormatError(file, `${key} must be an array of strings`);
  return v as string[];
}

function tokenId(file: string, meta: Map<string, GgufValue>, key: string, vocab: number): number | null {
  const v = meta.get(key);
  if (v === undefined) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocab) throw new FormatError(file, `${key} ${String(v)} is not a token id`);
  return v;
}

/** Returns null when the file has no tokenizer metadata at all. */
export function ggufTokenizerFiles(file: string, meta: Map<string, GgufValue>): GgufTokenizerFiles | null {
  const model = meta.get('tokenizer.ggml.model');
  if (model === undefined) return null;
  if (model !== 'gpt2') throw new FormatError(file, `unsupported tokenizer.ggml.model ${quote(String(model), 40)} (supported: gpt2 byte-level BPE)`);
  const pre = meta.get('tokenizer.ggml.pre') ?? 'default';
  const pattern = typeof pre === 'string' ? PRE_PATTERNS[pre] : undefined;
  if (!pattern) throw new FormatError(file, `unsupported tokenizer.ggml.pre ${quote(String(pre), 40)} (supported: ${Object.keys(PRE_PATTERNS).join(', ')})`);
  const tokens = stringList(file, meta.get('tokenizer.ggml.tokens'), 'tokenizer.ggml.tokens');
  const merges = stringList(file, meta.get('tokenizer.ggml.merges') ?? [], 'tokenizer.ggml.merges');
  const typesRaw = meta.get('tokenizer.ggml.token_type');
  const types = typesRaw === undefined ? null : typesRaw instanceof Int32Array ? typesRaw : null;
  if (typesRaw !== undefined && (!types || types.length !== tokens.length))
    throw new FormatError(file, 'tokenizer.ggml.token_type must be an i32 array as long as the token list');

  const vocab: Record<string, number> = {};
  const added: Array<Record<string, unknown>> = [];
  for (let id = 0; id < tokens.length; id++) {
    const t = tokens[id];
    if (Object.hasOwn(vocab, t)) throw new FormatError(file, `duplicate token ${quote(t, 40)} in tokenizer.ggml.tokens`);
    vocab[t] = id;
    const type = types?.[id] ?? 1;
    if (type === CONTROL || type === USER_DEFINED) {
      added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: type !== CONTROL, special: type === CONTROL });
    }
  }
  for (const m of merges) {
    const parts = m.split(' ');
    if (parts.length !== 2) throw new FormatError(file, `malformed merge ${quote(m, 40)}`);
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: pre === 'qwen2' ? { type: 'NFC' } : null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }, byteLevel] },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const name = (key: string) => {
    const id = tokenId(file, meta, key, tokens.length);
    return id === null ? null : tokens[id];
  };
  const template = meta.get('tokenizer.chat_template');
  const tokenizerConfig: Record<string, unknown> = {
    add_bos_token: meta.get('tokenizer.ggml.add_bos_token') === true,
    bos_token: name('tokenizer.ggml.bos_token_id'),
    eos_token: name('tokenizer.ggml.eos_token_id'),
    pad_token: name('tokenizer.ggml.padding_token_id'),
    clean_up_tokenization_spaces: false,
  };
  if (typeof template === 'string') tokenizerConfig.chat_template = template;
  return { tokenizerJson, tokenizerConfig };
}
