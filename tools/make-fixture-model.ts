// Writes a seeded random-weights Qwen2 model (src/model/random-model.ts) from any config in Hugging
// Face layout: safetensors in f32/f16/bf16, optionally sharded with an index, or one GGUF file in
// F32/F16/Q8_0/Q4_0/Q4_K/Q6_K. Tensors are generated and written one at a time.
//
//   npx tsx tools/make-fixture-model.ts <out-dir> [--format safetensors|gguf] [--dtype f32|f16|bf16]
//       [--shards N] [--gguf-type F32|F16|Q8_0|Q4_0|Q4_K|Q6_K] [--config config.json] [--seed S] [--no-tokenizer]
import { mkdir, open, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expectedTensors, parseQwen2Config } from '../src/model/config.ts';
import { QWEN25_MATH_CHAT_TEMPLATE } from '../src/model/chat-template.ts';
import { randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { encodeSafetensorsHeader, encodeTensorValues, elementCount, SAFETENSORS_DTYPE_BYTES, type SafetensorsDtype } from '../src/model/safetensors.ts';

export type FixtureDtype = 'f32' | 'f16' | 'bf16';
export type GgufFixtureType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

export interface FixtureOptions {
  format?: 'safetensors' | 'gguf';
  dtype?: FixtureDtype;
  shards?: number;
  ggufType?: GgufFixtureType;
  seed?: number;
  /** Write tokenizer.json/tokenizer_config.json (a byte-level BPE; needs vocab_size >= 259). Default: when it fits. */
  tokenizer?: boolean;
}

const DTYPE: Record<FixtureDtype, SafetensorsDtype> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };

/** Appends byte chunks to a file through one handle. */
async function appendChunks(path: string, chunks: AsyncIterable<Uint8Array>): Promise<number> {
  const h = await open(path, 'w');
  let total = 0;
  try {
    for await (const c of chunks) {
      await h.write(c);
      total += c.length;
    }
  } finally {
    await h.close();
  }
  return total;
}

/** Writes the model into `dir` (created if needed); returns the names of the files written. */
export async function writeFixtureModel(dir: string, configJson: Record<string, unknown>, opts: FixtureOptions = {}): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const config = parseQwen2Config(configJson);
  const written: string[] = [];
  await writeFile(join(dir, 'config.json'), JSON.stringify(configJson, null, 2));
  written.push('config.json');
  await writeFile(
    join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenIds, do_sample: false }, null, 2),
  );
  written.push('generation_config.json');
  const wantTokenizer = opts.tokenizer ?? config.vocabSize >= BYTE_VOCAB + SPECIALS.length;
  if (wantTokenizer) {
    const { tokenizerJson, tokenizerConfig } = byteLevelTokenizer(config.vocabSize);
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2));
    written.push('tokenizer.json', 'tokenizer_config.json');
  }
  const source = randomModelSource(configJson, opts.seed ?? 1, dir);
  if ((opts.format ?? 'safetensors') === 'gguf') {
    const { writeGgufModel } = await import('./gguf-writer.ts');
    const file = 'model.gguf';
    await appendChunks(join(dir, file), writeGgufModel(config, source, opts.ggufType ?? 'F32', wantTokenizer ? byteLevelTokenizer(config.vocabSize) : null));
    written.push(file);
    return written;
  }

  const dtype = DTYPE[opts.dtype ?? 'f32'];
  const specs = [...expectedTensors(config)].map(([name, shape]) => ({ name, shape, dtype }));
  const shardCount = Math.max(1, Math.min(opts.shards ?? 1, specs.length));
  const totalBytes = specs.reduce((a, s) => a + elementCount(s.shape) * SAFETENSORS_DTYPE_BYTES[dtype], 0);
  // Assign tensors to shards in order, starting a new shard once one holds its share of the bytes.
  const groups: Array<typeof specs> = [[]];
  let acc = 0;
  for (const s of specs) {
    const bytes = elementCount(s.shape) * SAFETENSORS_DTYPE_BYTES[dtype];
    if (groups.length < shardCount && acc >= (totalBytes / shardCount) * groups.length && groups[groups.length - 1].length > 0) groups.push([]);
    groups[groups.length - 1].push(s);
    acc += bytes;
  }
  const names =
    groups.length === 1
      ? ['model.safetensors']
      : groups.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`);
  const iter = source.tensors()[Symbol.asyncIterator]();
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g];
    await appendChunks(
      join(dir, names[g]),
      (async function* () {
        yield encodeSafetensorsHeader(group, { format: 'pt' });
        for (const spec of group) {
          const { value } = await iter.next();
          if (!value || value.name !== spec.name) throw new Error(`fixture: tensor order mismatch at ${spec.name}`);
          yield encodeTensorValues(value.values, dtype);
        }
      })(),
    );
    written.push(names[g]);
  }
  if (groups.length > 1) {
    const weightMap: Record<string, string> = {};
    groups.forEach((group, g) => group.forEach((s) => (weightMap[s.name] = names[g])));
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2));
    written.push('model.safetensors.index.json');
  }
  return written;
}

// ---- a byte-level BPE tokenizer that fits any vocab of at least 259 ids ----

const BYTE_VOCAB = 256;
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** GPT-2's printable stand-ins for bytes, which byte-level BPE vocabularies are written in. */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return map;
}

/** Byte tokens 0..255, no merges, then the ChatML specials; ids past those stay unused. */
export function byteLevelTokenizer(vocabSize: number): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  if (vocabSize < BYTE_VOCAB + SPECIALS.length) throw new Error(`fixture tokenizer needs vocab_size >= ${BYTE_VOCAB + SPECIALS.length}`);
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, b) => (vocab[ch] = b));
  const added = SPECIALS.map((content, i) => ({
    id: BYTE_VOCAB + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    tokenizerJson: {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: byteLevel,
      decoder: byteLevel,
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: [],
      },
    },
    tokenizerConfig: {
      add_bos_token: false,
      bos_token: null,
      eos_token: '<|im_end|>',
      pad_token: '<|endoftext|>',
      chat_template: QWEN25_MATH_CHAT_TEMPLATE,
      model_max_length: 4096,
      tokenizer_class: 'Qwen2Tokenizer',
    },
  };
}

// ---- command line ----

async function main(argv: string[]): Promise<void> {
  const out = argv.find((a, i) => !a.startsWith('--') && (i === 0 || !argv[i - 1].startsWith('--')));
  if (!out)
    throw new Error(
      'usage: make-fixture-model.ts <out-dir> [--format safetensors|gguf] [--dtype f32|f16|bf16] [--shards N] [--gguf-type T] [--config file] [--seed S]',
    );
  const flag = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const configPath = flag('config');
  const configJson = configPath ? (JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>) : tinyConfigJson({ vocab_size: 384 });
  const files = await writeFixtureModel(out, configJson, {
    format: flag('format') as FixtureOptions['format'],
    dtype: flag('dtype') as FixtureDtype | undefined,
    shards: flag('shards') ? Number(flag('shards')) : undefined,
    ggufType: flag('gguf-type') as GgufFixtureType | undefined,
    seed: flag('seed') ? Number(flag('seed')) : undefined,
    tokenizer: argv.includes('--no-tokenizer') ? false : undefined,
  });
  console.log(`wrote ${files.join(', ')} to ${out}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`make-fixture-model: ${(e as Error).message}`);
    process.exit(1);
  });
}
