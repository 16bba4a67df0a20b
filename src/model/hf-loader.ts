// A model in Hugging Face layout: config.json, generation_config.json, tokenizer.json +
// tokenizer_config.json, and model.safetensors or shards listed in model.safetensors.index.json.
// Opening reads the small files and the safetensors headers only; tensors are read one at a time when
// the ModelSource is iterated, converted to f32 on the way.
import { FormatError } from '../errors.ts';
import { parseQwen2Config, type Qwen2Config } from './config.ts';
import { parseGenerationConfig, type GenerationConfig } from './generation-config.ts';
import { isRecord, parseJsonBytes, quote } from './json-guard.ts';
import { readSafetensorsHalves, readSafetensorsHeader, readSafetensorsTensor, type SafetensorsEntry } from './safetensors.ts';
import { checkRelativeName, readSmallFile, type ByteFile, type FileSet } from './sources/byte-file.ts';
import { packedRecord, storedFormatOf, streamTensors, type LoadProgress, type ModelSource } from './source.ts';
import type { WeightFormat } from '../gpu/quant.ts';
import { checkTensors } from './tensor-check.ts';
import { Tokenizer } from './tokenizer.ts';

/** Size limits for the small files: generous for real models, small enough to refuse garbage quickly. */
export const FILE_LIMITS = {
  'config.json': 1 << 20,
  'generation_config.json': 1 << 20,
  'model.safetensors.index.json': 32 << 20,
  'tokenizer.json': 64 << 20,
  'tokenizer_config.json': 16 << 20,
} as const;

const STORED_FORMAT = { F32: 'f32', F16: 'f16', BF16: 'bf16' } as const satisfies Record<SafetensorsEntry['dtype'], WeightFormat>;

/** The 16-bit format a matrix is read in as stored (halves, two per word), or null to read it as f32 values. */
function halvesFormat(e: SafetensorsEntry): 'f16' | 'bf16' | null {
  const format = STORED_FORMAT[e.dtype];
  return format === 'f32' || e.shape.length !== 2 || e.shape[1] % 2 !== 0 ? null : format;
}

export async function readJsonFile(files: FileSet, name: keyof typeof FILE_LIMITS): Promise<{ file: ByteFile; json: unknown } | null> {
  const file = await files.open(name);
  if (!file) return null;
  return { file, json: parseJsonBytes(await readSmallFile(file, FILE_LIMITS[name]), file.name) };
}

/** tokenizer.json (+ tokenizer_config.json) when present, else null. */
export async function readHfTokenizer(files: FileSet, eosTokenIds: number[]): Promise<Tokenizer | null> {
  const tj = await readJsonFile(files, 'tokenizer.json');
  if (!tj) return null;
  const tc = await readJsonFile(files, 'tokenizer_config.json');
  return new Tokenizer(tj.json, tc?.json ?? {}, { eosTokenIds, file: tj.file.name, configFile: tc?.file.name });
}

export interface HfModel {
  config: Qwen2Config;
  generationConfig: GenerationConfig;
  tokenizer: Tokenizer | null;
  source: ModelSource;
}

/** The safetensors files of the model: the named file, the shards of the index, or model.safetensors. */
async function weightFiles(files: FileSet): Promise<{ shards: ByteFile[]; index: Map<string, string> | null }> {
  if (files.primary?.endsWith('.safetensors')) {
    const f = await files.open(files.primary);
    if (!f) throw new FormatError(files.name, `${files.primary} not found`);
    return { shards: [f], index: null };
  }
  // The single file first: servers with an SPA fallback answer a missing index.json with an HTML page.
  const single = await files.open('model.safetensors');
  if (single) return { shards: [single], index: null };
  const idx = await readJsonFile(files, 'model.safetensors.index.json');
  if (idx) {
    const map = isRecord(idx.json) ? idx.json.weight_map : undefined;
    if (!isRecord(map)) throw new FormatError(idx.file.name, 'missing "weight_map" object');
    const index = new Map<string, string>();
    const shardNames = new Set<string>();
    for (const [tensor, shard] of Object.entries(map)) {
      if (typeof shard !== 'string') throw new FormatError(idx.file.name, `weight_map[${quote(tensor)}] is not a file name`);
      checkRelativeName(idx.file.name, shard);
      if (!shard.endsWith('.safetensors')) throw new FormatError(idx.file.name, `shard ${quote(shard)} is not a .safetensors file`);
      index.set(tensor, shard);
      shardNames.add(shard);
    }
    if (shardNames.size > 10_000) throw new FormatError(idx.file.name, `${shardNames.size} shards is more than any real model has`);
    const shards: ByteFile[] = [];
    for (const name of [...shardNames].sort()) {
      const f = await files.open(name);
      if (!f) throw new FormatError(idx.file.name, `shard "${name}" listed in the index is missing`);
      shards.push(f);
    }
    return { shards, index };
  }
  throw new FormatError(files.name, 'no model.safetensors, model.safetensors.index.json or .gguf file found');
}

export async function loadHfModel(files: FileSet, onProgress?: (p: LoadProgress) => void): Promise<HfModel> {
  const cfg = await readJsonFile(files, 'config.json');
  if (!cfg) throw new FormatError(files.name, 'config.json not found');
  const config = parseQwen2Config(cfg.json, cfg.file.name);
  const gen = await readJsonFile(files, 'generation_config.json');
  const generationConfig = parseGenerationConfig(gen?.json, config, gen?.file.name);
  const tokenizer = await readHfTokenizer(files, generationConfig.eosTokenIds);

  const { shards, index } = await weightFiles(files);
  const plan: Array<{ file: ByteFile; entries: SafetensorsEntry[] }> = [];
  const owner = new Map<string, string>();
  let bytesSeen = 0;
  for (const shard of shards) {
    const header = await readSafetensorsHeader(shard);
    for (const e of header.entries) {
      const prev = owner.get(e.name);
      if (prev !== undefined) throw new FormatError(shard.name, `tensor ${quote(e.name)} is also in ${prev}`);
      owner.set(e.name, shard.name);
    }
    plan.push({ file: shard, entries: header.entries });
    bytesSeen += shard.size;
    onProgress?.({ phase: 'parse', bytesDone: bytesSeen, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
  }
  if (index) {
    for (const [tensor, shard] of index) {
      const holder = owner.get(tensor);
      if (holder === undefined) throw new FormatError(files.name, `model.safetensors.index.json lists ${quote(tensor)} in ${shard}, which does not hold it`);
    }
  }
  const wanted = checkTensors(
    shards.length === 1 ? shards[0].name : files.name,
    config,
    plan.flatMap((p) => p.entries),
  );
  for (const p of plan) p.entries = p.entries.filter((e) => wanted.has(e.name));
  const bytesTotal = plan.reduce((a, p) => a + p.entries.reduce((b, e) => b + e.end - e.begin, 0), 0);
  const tensorsTotal = wanted.size;
  const phase = files.remote ? 'download' : 'parse';

  const source: ModelSource = {
    name: files.name,
    config,
    storedFormat: storedFormatOf(plan.flatMap((p) => p.entries.map((e) => ({ name: e.name, shape: e.shape, format: STORED_FORMAT[e.dtype] })))),
    tensors: (progress) =>
      streamTensors(
        plan.flatMap(({ file, entries }) => entries.map((e) => ({ file, e }))),
        {
          phase,
          bytesTotal,
          tensorsTotal,
          bytesOf: ({ e }) => e.end - e.begin,
          read: async ({ file, e }, onBytes) => {
            const format = halvesFormat(e);
            if (!format) return { name: e.name, shape: e.shape, values: await readSafetensorsTensor(file, e, onBytes) };
            const [rows, cols] = e.shape;
            return packedRecord(e.name, e.shape, { format, rows, cols, data: await readSafetensorsHalves(file, e, onBytes), scales: new Float32Array(0) });
          },
        },
        progress,
      ),
  };
  return { config, generationConfig, tokenizer, source };
}
