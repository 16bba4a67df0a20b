// Builds the bundled models' tokenizer: Qwen2's own pre-tokenizer (digit-by-digit split + byte-level)
// with a small byte-level BPE vocabulary learned on the arithmetic corpus, plus the ChatML special tokens.
// Writes tools/train/.work/tokenizer/{tokenizer.json, tokenizer_config.json}; the exporter copies them into each model.
// Usage: npx tsx tools/train/build-tokenizer.ts
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chatPrompt, SYSTEM_PROMPT } from '../../src/tasks/arithmetic.ts';

const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
// Qwen2's split pattern; `(?i:...)` is written out because JavaScript regexes lack inline flags.
const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const SPLIT_JS = new RegExp(QWEN2_SPLIT.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]"), 'gu');
const MAX_MERGES = 300;
const MIN_PAIR_COUNT = 100;
const CORPUS_PROBLEMS = 20000;

/** GPT-2's byte -> printable character map, the alphabet of byte-level BPE. */
function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCharCode(keep.includes(b) ? b : 256 + extra++);
  return map;
}

const byteChar = bytesToUnicode();
const encoder = new TextEncoder();

// Word counts of the pre-tokenized corpus (prompts and reference solutions, special tokens cut out).
const lines = readFileSync('tools/train/.work/arith-train.jsonl', 'utf8').split('\n').filter(Boolean).slice(0, CORPUS_PROBLEMS);
const words = new Map<string, number>();
for (const line of lines) {
  const p = JSON.parse(line) as { problem: string; solution: string };
  const text = chatPrompt(p.problem) + p.solution;
  for (const piece of text.split(/<\|im_start\|>|<\|im_end\|>|<\|endoftext\|>/)) {
    for (const m of piece.matchAll(SPLIT_JS)) {
      const w = Array.from(encoder.encode(m[0]), (b) => byteChar[b]).join('');
      words.set(w, (words.get(w) ?? 0) + 1);
    }
  }
}

// Plain BPE training: repeatedly merge the most frequent adjacent pair (ties broken by the pair text).
const splitWords = [...words].map(([w, n]) => ({ symbols: [...w], n }));
const merges: Array<[string, string]> = [];
while (merges.length < MAX_MERGES) {
  const counts = new Map<string, number>();
  for (const { symbols, n } of splitWords) {
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = symbols[i] + ' ' + symbols[i + 1];
      counts.set(key, (counts.get(key) ?? 0) + n);
    }
  }
  let best = '';
  let bestCount = 0;
  for (const [k, c] of counts)
    if (c > bestCount || (c === bestCount && k < best)) {
      best = k;
      bestCount = c;
    }
  if (bestCount < MIN_PAIR_COUNT) break;
  const [a, b] = best.split(' ');
  merges.push([a, b]);
  for (const w of splitWords) {
    const out: string[] = [];
    for (let i = 0; i < w.symbols.length; i++) {
      if (i + 1 < w.symbols.length && w.symbols[i] === a && w.symbols[i + 1] === b) {
        out.push(a + b);
        i++;
      } else out.push(w.symbols[i]);
    }
    w.symbols = out;
  }
}

const vocab: Record<string, number> = {};
byteChar.forEach((c, i) => (vocab[c] = i));
for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length;
const firstSpecial = Object.keys(vocab).length;
const addedTokens = SPECIAL_TOKENS.map((content, i) => ({
  id: firstSpecial + i,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
}));
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
const tokenizer = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: addedTokens,
  normalizer: { type: 'NFC' },
  pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: QWEN2_SPLIT }, behavior: 'Isolated', invert: false }, byteLevel] },
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

// Qwen2.5-Math's template, with its math system prompt as the default system message.
const chatTemplate =
  '{%- for message in messages %}' +
  "{%- if loop.first and message['role'] != 'system' %}{{- '<|im_start|>system\\n" +
  SYSTEM_PROMPT.replace(/\\/g, '\\\\') +
  "<|im_end|>\\n' }}{%- endif %}" +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  '{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
const tokenizerConfig = {
  add_bos_token: false,
  add_prefix_space: false,
  added_tokens_decoder: Object.fromEntries(addedTokens.map((t) => [String(t.id), { ...t, id: undefined }])),
  additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
  bos_token: null,
  chat_template: chatTemplate,
  clean_up_tokenization_spaces: false,
  eos_token: '<|im_end|>',
  errors: 'replace',
  model_max_length: 512,
  pad_token: '<|endoftext|>',
  split_special_tokens: false,
  tokenizer_class: 'Qwen2Tokenizer',
  unk_token: null,
};

mkdirSync('tools/train/.work/tokenizer', { recursive: true });
writeFileSync('tools/train/.work/tokenizer/tokenizer.json', JSON.stringify(tokenizer, null, 1) + '\n');
writeFileSync('tools/train/.work/tokenizer/tokenizer_config.json', JSON.stringify(tokenizerConfig, null, 2) + '\n');
console.log(`tokenizer: ${firstSpecial} regular tokens (${merges.length} merges) + ${SPECIAL_TOKENS.length} special`);
