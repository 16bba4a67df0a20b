// Seeded fuzzing of the model-file readers: small valid inputs (a safetensors file, a GGUF file with
// every metadata and tensor type, a whole Hugging Face model directory, a whole qwen2 GGUF model) are
// mutated (bit flips, boundary bytes, truncation, insertions, deletions, duplicated ranges, absurd
// u32/u64 fields) and read end to end. Every input must either load or fail with a FormatError, within
// 1 s, without allocating more than 8x its size (f32 output of a 4-bit tensor is 7.1x its bytes).
//
//   npx tsx tools/fuzz-formats.ts [--iterations N] [--seed S] [--target safetensors|gguf|hf-model|gguf-model]
import { pathToFileURL } from 'node:url';
import { FormatError } from '../src/errors.ts';
import { expectedTensors, parseQwen2Config } from '../src/model/config.ts';
import { readGgufHeader, readGgufTensor } from '../src/model/gguf.ts';
import { loadGgufModel } from '../src/model/gguf-loader.ts';
import { GGML_BLOCKS, GgmlType, quantize } from '../src/model/gguf-quant.ts';
import { loadHfModel } from '../src/model/hf-loader.ts';
import { mulberry32, randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { encodeSafetensors, readSafetensorsHeader, readSafetensorsTensor } from '../src/model/safetensors.ts';
import { memoryFile, memoryFileSet } from '../src/model/sources/byte-file.ts';
import { encodeGgufHeader, ggufTensorName, padTo, qwen2Metadata, tokenizerMetadata, type GgufMeta, type GgufTensorSpec } from './gguf-writer.ts';
import { byteLevelTokenizer } from './make-fixture-model.ts';

export interface FuzzTarget {
  name: string;
  files: Record<string, Uint8Array>;
  primary?: string;
  /** Reads everything the way a load does; throws on bad input. */
  run(files: Record<string, Uint8Array>, primary?: string): Promise<void>;
}

export interface FuzzReport {
  target: string;
  iterations: number;
  loaded: number;
  formatErrors: number;
  slowestMs: number;
  /** Largest growth of ArrayBuffer memory while reading one input, as a multiple of the input's size. */
  worstAllocationRatio: number;
  /** Distinct problems reported (the FormatError text after the file name, numbers elided), with counts. */
  problems: Map<string, number>;
  failures: Array<{ iteration: number; kind: string; detail: string }>;
}

const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
async function drain(iter: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of iter) {
    /* read every tensor */
  }
}

// ---- the valid starting inputs ----

/** A target whose input is one file, read whole by `read`. */
function oneFileTarget(name: string, fileName: string, bytes: Uint8Array, read: (file: ReturnType<typeof memoryFile>) => Promise<void>): FuzzTarget {
  return { name, files: { [fileName]: bytes }, run: (files) => read(memoryFile(fileName, files[fileName])) };
}

function safetensorsTarget(): FuzzTarget {
  const bytes = encodeSafetensors(
    [
      { name: 'a', dtype: 'F32', shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { name: 'b.weight', dtype: 'F16', shape: [4], values: Float32Array.from([0.5, -1, 2, 65504]) },
      { name: 'c', dtype: 'BF16', shape: [2, 2], values: Float32Array.from([1e-3, -7, 3.5, 0]) },
    ],
    { format: 'pt' },
  );
  return oneFileTarget('safetensors', 'x.safetensors', bytes, async (file) => {
    const h = await readSafetensorsHeader(file);
    for (const e of h.entries) await readSafetensorsTensor(file, e);
  });
}

function ggufTarget(): FuzzTarget {
  const rand = mulberry32(9);
  const vals = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);
  const types: Array<[GgmlType, number]> = [
    [GgmlType.F32, 8],
    [GgmlType.F16, 8],
    [GgmlType.BF16, 8],
    [GgmlType.Q8_0, 32],
    [GgmlType.Q4_0, 32],
    [GgmlType.Q4_K, 256],
    [GgmlType.Q6_K, 256],
    [GgmlType.Q4_1, 32],
    [GgmlType.Q5_0, 32],
    [GgmlType.Q5_1, 32],
    [GgmlType.Q5_K, 256],
  ];
  // Types the fixtures do not write get random block bytes (any bytes are a valid block).
  const blockBytes = (type: GgmlType, n: number) => {
    try {
      return quantize(type, vals(n));
    } catch {
      const blk = GGML_BLOCKS[type]!;
      return Uint8Array.from({ length: (n / blk.elements) * blk.bytes }, () => Math.floor(rand() * 256));
    }
  };
  const tensors: GgufTensorSpec[] = types.map(([type, n], i) => ({ name: `t${i}`, dims: [n], type }));
  const meta: Record<string, GgufMeta> = {
    'general.architecture': { type: 'string', value: 'qwen2' },
    'general.alignment': { type: 'u32', value: 32 },
    'a.f32': { type: 'f32', value: 0.5 },
    'a.bool': { type: 'bool', value: true },
    'a.u64': { type: 'u64', value: 7 },
    'a.i32': { type: 'i32', value: -3 },
    'a.strings': { type: 'string[]', value: ['x', 'yz', 'ü'] },
    'a.ints': { type: 'i32[]', value: [1, 2, 3] },
    'a.floats': { type: 'f32[]', value: [0.25, 0.5] },
  };
  const bytes = concat([encodeGgufHeader(meta, tensors), ...types.map(([type, n]) => padTo(blockBytes(type, n)))]);
  return oneFileTarget('gguf', 'x.gguf', bytes, async (file) => {
    const g = await readGgufHeader(file);
    for (const t of g.tensors) await readGgufTensor(file, t);
  });
}

async function tensorsOf(configJson: Record<string, unknown>): Promise<Array<{ name: string; shape: number[]; values: Float32Array }>> {
  const out = [];
  for await (const t of randomModelSource(configJson, 4).tensors()) out.push(t);
  return out;
}

async function hfModelTarget(): Promise<FuzzTarget> {
  const configJson = tinyConfigJson({
    hidden_size: 8,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 16,
    vocab_size: 16,
    num_hidden_layers: 1,
  });
  const tensors = await tensorsOf(configJson);
  const half = Math.ceil(tensors.length / 2);
  const shards = [tensors.slice(0, half), tensors.slice(half)];
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  shards.forEach((s, i) => s.forEach((t) => (weightMap[t.name] = names[i])));
  const { tokenizerJson, tokenizerConfig } = byteLevelTokenizer(259);
  const files: Record<string, Uint8Array> = {
    'config.json': json(configJson),
    'generation_config.json': json({ eos_token_id: [2], temperature: 0.7, top_p: 0.8 }),
    'model.safetensors.index.json': json({ metadata: { total_size: 0 }, weight_map: weightMap }),
    [names[0]]: encodeSafetensors(shards[0].map((t) => ({ ...t, dtype: 'F16' as const }))),
    [names[1]]: encodeSafetensors(shards[1].map((t) => ({ ...t, dtype: 'BF16' as const }))),
    'tokenizer.json': json(tokenizerJson),
    'tokenizer_config.json': json(tokenizerConfig),
  };
  return {
    name: 'hf-model',
    files,
    async run(f) {
      const m = await loadHfModel(memoryFileSet('model', f));
      await drain(m.source.tensors());
    },
  };
}

async function ggufModelTarget(): Promise<FuzzTarget> {
  const configJson = tinyConfigJson({
    hidden_size: 32,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 32,
    vocab_size: 16,
    num_hidden_layers: 1,
  });
  const config = parseQwen2Config(configJson);
  const specs = [...expectedTensors(config)].map(([name, shape]) => {
    const dims = [...shape].reverse();
    return { name: ggufTensorName(name), dims, type: dims.length === 1 ? GgmlType.F32 : name.includes('mlp') ? GgmlType.Q4_0 : GgmlType.Q8_0 };
  });
  const tensors = await tensorsOf(configJson);
  const letters = 'abcdefghijklm';
  const vocab: Record<string, number> = {};
  [...letters].forEach((c, i) => (vocab[c] = i));
  vocab.ab = 13;
  const tokenizerJson = {
    model: { vocab, merges: [['a', 'b']] },
    added_tokens: [
      { id: 14, content: '<|im_start|>', special: true },
      { id: 15, content: '<|im_end|>', special: true },
    ],
  };
  const meta = { ...qwen2Metadata(config), ...tokenizerMetadata(tokenizerJson, { eos_token: '<|im_end|>', chat_template: '{{ messages[0].content }}' }, 16) };
  const bytes = concat([encodeGgufHeader(meta, specs), ...tensors.map((t, i) => padTo(quantize(specs[i].type, t.values)))]);
  return {
    name: 'gguf-model',
    files: { 'model.gguf': bytes },
    primary: 'model.gguf',
    async run(f, primary) {
      const m = await loadGgufModel(memoryFileSet('model', f, primary));
      await drain(m.source.tensors());
    },
  };
}

export async function fuzzTargets(): Promise<FuzzTarget[]> {
  return [safetensorsTarget(), ggufTarget(), await hfModelTarget(), await ggufModelTarget()];
}

// ---- mutations ----

const INTERESTING_U32 = [0, 1, 2, 3, 4, 7, 8, 31, 32, 33, 255, 256, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
const INTERESTING_U64 = [0n, 1n, 8n, 255n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
const JSON_TOKENS = ['{', '}', '[', ']', '"', ',', ':', '-1', '1e309', '9007199254740993', 'null', 'true', '\\u0000', '\\ud800', '"a"', '[[[[[[[[', '0.5'];

/** Applies 1-3 random mutations; offsets favour the first 512 bytes, where the headers are. */
export function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  let b: Uint8Array = input.slice();
  const pos = (n: number) => (rand() < 0.7 ? Math.floor(rand() * Math.min(n, 512)) : Math.floor(rand() * n));
  const steps = 1 + Math.floor(rand() * 3);
  for (let s = 0; s < steps && b.length > 0; s++) {
    const r = Math.floor(rand() * 9);
    const p = pos(b.length);
    if (r === 0) b[p] ^= 1 << Math.floor(rand() * 8);
    else if (r === 1) b[p] = [0, 0xff, 0x7f, 0x80, 0x20, 0x22, 0x5c][Math.floor(rand() * 7)];
    else if (r === 2) b = b.slice(0, Math.floor(rand() * b.length));
    else if (r === 3) {
      const extra = Uint8Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256));
      b = concat([b.subarray(0, p), extra, b.subarray(p)]);
    } else if (r === 4) b = concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + 1 + Math.floor(rand() * 32)))]);
    else if (r === 5) {
      const len = 1 + Math.floor(rand() * 64);
      b = concat([b.subarray(0, p), b.subarray(p, p + len), b.subarray(p)]);
    } else if (r === 6 && b.length >= p + 4)
      new DataView(b.buffer, b.byteOffset).setUint32(p, INTERESTING_U32[Math.floor(rand() * INTERESTING_U32.length)], true);
    else if (r === 7 && b.length >= p + 8)
      new DataView(b.buffer, b.byteOffset).setBigUint64(p, INTERESTING_U64[Math.floor(rand() * INTERESTING_U64.length)], true);
    else {
      const t = enc.encode(JSON_TOKENS[Math.floor(rand() * JSON_TOKENS.length)]);
      b = concat([b.subarray(0, p), t, b.subarray(Math.min(b.length, p + (rand() < 0.5 ? t.length : 0)))]);
    }
  }
  return b;
}

function problemKind(message: string): string {
  const afterFile = message.replace(/^[^:]*: /, '');
  return afterFile
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\d+/g, 'N')
    .slice(0, 70);
}

export async function fuzz(target: FuzzTarget, iterations: number, seed = 1): Promise<FuzzReport> {
  const rand = mulberry32(seed);
  const report: FuzzReport = {
    target: target.name,
    iterations,
    loaded: 0,
    formatErrors: 0,
    slowestMs: 0,
    worstAllocationRatio: 0,
    problems: new Map(),
    failures: [],
  };
  const names = Object.keys(target.files);
  await target.run(target.files, target.primary); // the unmutated input must load
  for (let i = 0; i < iterations; i++) {
    const which = names[Math.floor(rand() * names.length)];
    const files = { ...target.files, [which]: mutate(target.files[which], rand) };
    const size = Object.values(files).reduce((a, f) => a + f.length, 0);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    try {
      await target.run(files, target.primary);
      report.loaded++;
    } catch (e) {
      if (e instanceof FormatError && !e.message.includes('\n')) {
        report.formatErrors++;
        const k = problemKind(e.message);
        report.problems.set(k, (report.problems.get(k) ?? 0) + 1);
      } else {
        report.failures.push({
          iteration: i,
          kind: 'exception',
          detail: `${(e as Error)?.constructor?.name}: ${String((e as Error)?.message ?? e).slice(0, 200)} (mutated ${which})`,
        });
      }
    }
    const ms = performance.now() - t0;
    report.slowestMs = Math.max(report.slowestMs, ms);
    if (ms > 1000) report.failures.push({ iteration: i, kind: 'slow', detail: `${ms.toFixed(0)} ms (mutated ${which})` });
    const grown = process.memoryUsage().arrayBuffers - before;
    report.worstAllocationRatio = Math.max(report.worstAllocationRatio, grown / Math.max(size, 1));
    if (grown > 8 * size + (1 << 20))
      report.failures.push({ iteration: i, kind: 'allocation', detail: `${grown} bytes for a ${size}-byte input (mutated ${which})` });
  }
  return report;
}

// ---- command line: longer runs ----

async function main(argv: string[]): Promise<void> {
  const flag = (n: string) => {
    const i = argv.indexOf(`--${n}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const iterations = Number(flag('iterations') ?? 100_000);
  const seed = Number(flag('seed') ?? Date.now() % 1e9);
  const only = flag('target');
  let failed = 0;
  for (const t of await fuzzTargets()) {
    if (only && t.name !== only) continue;
    const t0 = performance.now();
    const r = await fuzz(t, iterations, seed);
    failed += r.failures.length;
    console.log(
      `${t.name}: ${r.iterations} inputs (seed ${seed}) in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${r.formatErrors} FormatError, ${r.loaded} loaded, ` +
        `${r.failures.length} failures; slowest ${r.slowestMs.toFixed(1)} ms; worst ArrayBuffer growth ${r.worstAllocationRatio.toFixed(2)}x the input; ${r.problems.size} distinct problems`,
    );
    for (const f of r.failures.slice(0, 10)) console.log(`  FAIL #${f.iteration} ${f.kind}: ${f.detail}`);
  }
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`fuzz-formats: ${(e as Error).stack}`);
    process.exit(2);
  });
}
