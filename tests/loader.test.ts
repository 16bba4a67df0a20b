// The Hugging Face layout loader: single-file and sharded safetensors in f32/f16/bf16 give the random
// model's tensors (within each dtype's rounding), mismatches are listed in one error, progress is
// reported, and peak JavaScript memory during a load stays within about twice the largest tensor.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../src/errors.ts';
import { expectedTensors } from '../src/model/config.ts';
import { loadHfModel } from '../src/model/hf-loader.ts';
import { randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { encodeSafetensors } from '../src/model/safetensors.ts';
import { memoryFileSet, type FileSet } from '../src/model/sources/byte-file.ts';
import { nodeFileSet } from '../src/model/sources/node-fs.ts';
import type { LoadProgress, TensorRecord } from '../src/model/source.ts';
import { writeFixtureModel } from '../tools/make-fixture-model.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fasttts-loader-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function collect(iter: AsyncIterable<TensorRecord>): Promise<Map<string, TensorRecord>> {
  const out = new Map<string, TensorRecord>();
  for await (const t of iter) {
    expect(out.has(t.name)).toBe(false);
    out.set(t.name, t);
  }
  return out;
}

const config = tinyConfigJson({ vocab_size: 320 });

describe('Hugging Face layout loader', () => {
  const cases = [
    { dtype: 'f32', shards: 1, tol: 0 },
    { dtype: 'f16', shards: 1, tol: 2 ** -11 },
    { dtype: 'bf16', shards: 3, tol: 2 ** -8 },
  ] as const;
  for (const c of cases) {
    it(`${c.dtype}, ${c.shards} shard(s): the random model's tensors within relative ${c.tol} (plus half the f16 subnormal step)`, async () => {
      const dir = join(root, `${c.dtype}-${c.shards}`);
      const files = await writeFixtureModel(dir, config, { dtype: c.dtype, shards: c.shards, seed: 7 });
      if (c.shards > 1) expect(files).toContain('model.safetensors.index.json');
      const progress: LoadProgress[] = [];
      const model = await loadHfModel(await nodeFileSet(dir));
      expect(model.config.hiddenSize).toBe(64);
      expect(model.tokenizer?.vocabSize).toBe(259);
      expect(model.generationConfig.eosTokenIds).toEqual([2]);
      const got = await collect(model.source.tensors((p) => progress.push(p)));
      const want = await collect(randomModelSource(config, 7).tensors());
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [name, w] of want) {
        const g = got.get(name)!;
        expect(g.shape).toEqual(w.shape);
        let worst = 0;
        for (let i = 0; i < w.values.length; i++) worst = Math.max(worst, (Math.abs(g.values[i] - w.values[i]) - 2 ** -25) / Math.abs(w.values[i]));
        expect(worst).toBeLessThanOrEqual(c.tol);
      }
      const last = progress[progress.length - 1];
      expect(progress.length).toBe(want.size);
      expect(last).toMatchObject({ phase: 'parse', tensorsDone: want.size, tensorsTotal: want.size });
      expect(last.bytesDone).toBe(last.bytesTotal);
    });
  }

  it('a single .safetensors path finds config.json next to it', async () => {
    const dir = join(root, 'f32-1');
    const model = await loadHfModel(await nodeFileSet(join(dir, 'model.safetensors')));
    expect(model.config.numLayers).toBe(2);
  });

  it('loads both PRM heads, and skips an lm_head stored next to tied embeddings', async () => {
    const heads: Array<[string, string[]]> = [
      ['Qwen2ForPrmModel', ['v_head.summary.weight', 'v_head.summary.bias']],
      ['Qwen2ForProcessRewardModel', ['score.0.weight', 'score.0.bias', 'score.2.weight', 'score.2.bias']],
    ];
    for (const [arch, names] of heads) {
      const dir = join(root, arch);
      await writeFixtureModel(dir, { ...config, architectures: [arch] }, { dtype: 'bf16' });
      const model = await loadHfModel(await nodeFileSet(dir));
      const got = await collect(model.source.tensors());
      for (const n of names) expect(got.has(n), n).toBe(true);
      expect(got.has('lm_head.weight')).toBe(false);
    }
    // A tied checkpoint that also stores lm_head (some exporters do) loads; the copy is not streamed.
    const c = tinyConfigJson();
    const tensors = [];
    for await (const t of randomModelSource(c).tensors()) tensors.push({ name: t.name, dtype: 'F32' as const, shape: t.shape, values: t.values });
    tensors.push({ name: 'lm_head.weight', dtype: 'F32' as const, shape: [96, 64], values: new Float32Array(96 * 64) });
    tensors.push({ name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'F32' as const, shape: [8], values: new Float32Array(8) });
    const cfg = new TextEncoder().encode(JSON.stringify(c));
    const tied = await loadHfModel(memoryFileSet('m', { 'config.json': cfg, 'model.safetensors': encodeSafetensors(tensors) }));
    expect((await collect(tied.source.tensors())).has('lm_head.weight')).toBe(false);
    // Untied, the same file is fine, and without lm_head it is missing.
    const untied = new TextEncoder().encode(JSON.stringify({ ...c, tie_word_embeddings: false }));
    const withHead = await loadHfModel(memoryFileSet('m', { 'config.json': untied, 'model.safetensors': encodeSafetensors(tensors) }));
    expect((await collect(withHead.source.tensors())).has('lm_head.weight')).toBe(true);
    const noHead = encodeSafetensors(tensors.filter((t) => t.name !== 'lm_head.weight'));
    await expect(loadHfModel(memoryFileSet('m', { 'config.json': untied, 'model.safetensors': noHead }))).rejects.toThrow(/missing lm_head.weight/);
  });

  it('lists missing, unexpected and mis-shaped tensors in one error', async () => {
    const c = tinyConfigJson();
    const tensors = [];
    for await (const t of randomModelSource(c).tensors()) {
      if (t.name === 'model.norm.weight' || t.name === 'model.layers.1.mlp.up_proj.weight') continue;
      if (t.name === 'model.layers.0.self_attn.k_proj.bias') {
        tensors.push({ name: t.name, dtype: 'F32' as const, shape: [t.shape[0] + 1], values: new Float32Array(t.shape[0] + 1) });
        continue;
      }
      tensors.push({ name: t.name, dtype: 'F32' as const, shape: t.shape, values: t.values });
    }
    tensors.push({ name: 'model.extra.weight', dtype: 'F32' as const, shape: [2], values: new Float32Array(2) });
    const files = memoryFileSet('m', { 'config.json': new TextEncoder().encode(JSON.stringify(c)), 'model.safetensors': encodeSafetensors(tensors) });
    const err = await loadHfModel(files).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe(
      'm/model.safetensors: tensors do not match the config: missing model.layers.1.mlp.up_proj.weight, model.norm.weight; ' +
        'unexpected model.extra.weight; mis-shaped model.layers.0.self_attn.k_proj.bias [33] (expected [32])',
    );
  });

  it('rejects a bad shard index: escaping names, missing shards, tensors not where it says', async () => {
    const cfg = new TextEncoder().encode(JSON.stringify(config));
    const index = (map: Record<string, string>) => new TextEncoder().encode(JSON.stringify({ weight_map: map }));
    const cases: Array<[Record<string, Uint8Array>, RegExp]> = [
      [{ 'config.json': cfg, 'model.safetensors.index.json': index({ a: '../../etc/passwd.safetensors' }) }, /invalid file name/],
      [{ 'config.json': cfg, 'model.safetensors.index.json': index({ a: 'x.safetensors' }) }, /shard "x.safetensors" listed in the index is missing/],
      [{ 'config.json': cfg, 'model.safetensors.index.json': index({ a: 'x.bin' }) }, /not a .safetensors file/],
      [{ 'config.json': cfg, 'model.safetensors.index.json': new TextEncoder().encode('{"weight_map": 3}') }, /weight_map/],
      [
        { 'config.json': cfg, 'model.safetensors.index.json': index({ a: 'x.safetensors' }), 'x.safetensors': encodeSafetensors([]) },
        /lists "a" in x.safetensors, which does not hold it/,
      ],
      [{ 'config.json': cfg }, /no model.safetensors/],
      [{ 'config.json': new TextEncoder().encode('{"architectures":["LlamaForCausalLM"]}') }, /unsupported architecture/],
      [{}, /config.json not found/],
    ];
    for (const [files, pattern] of cases) {
      const err = await loadHfModel(memoryFileSet('m', files)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toMatch(pattern);
    }
    // A named weights file that is not there: the message names the file, not only the set.
    const named = await loadHfModel(memoryFileSet('m', { 'config.json': cfg }, 'weights.safetensors')).catch((e: unknown) => e);
    expect(named).toBeInstanceOf(FormatError);
    expect((named as Error).message).toMatch(/weights\.safetensors not found/);
  });
});

describe('streaming load memory', () => {
  it('peak ArrayBuffer memory stays within 2x the largest tensor (bf16 on disk, f32 out)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Embedding 4096 x 256 f32 = 4 MiB is the largest tensor; the whole model is about 8x that.
    const big = tinyConfigJson({
      vocab_size: 4096,
      hidden_size: 256,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 768,
      num_hidden_layers: 8,
    });
    const dir = join(root, 'memory');
    await writeFixtureModel(dir, big, { dtype: 'bf16', shards: 2, tokenizer: false });
    // Sample memory right after each byte read as well as at each yielded tensor.
    let sample = () => {};
    const files = await nodeFileSet(dir);
    const sampled: FileSet = {
      ...files,
      open: async (name) => {
        const f = await files.open(name);
        return (
          f && {
            name: f.name,
            size: f.size,
            read: async (o, l) => {
              const b = await f.read(o, l);
              sample();
              return b;
            },
          }
        );
      },
    };
    const model = await loadHfModel(sampled);
    let largest = 0;
    let total = 0;
    for (const shape of expectedTensors(model.config).values()) {
      const bytes = shape.reduce((a, b) => a * b, 1) * 4;
      largest = Math.max(largest, bytes);
      total += bytes;
    }
    expect(total).toBeGreaterThan(6 * largest);
    // Live memory while reading a tensor = the previous tensor (still held by the consumer's loop
    // variable) + whatever the read allocates. Growth is measured from a baseline taken right after a
    // collection, so buffers freed by unrelated code cannot hide it.
    const mem = () => process.memoryUsage().arrayBuffers;
    gc();
    let base = mem();
    let previous = 0;
    let peak = 0;
    sample = () => void (peak = Math.max(peak, previous + mem() - base));
    let checksum = 0;
    for await (const t of model.source.tensors()) {
      sample(); // before collecting: what was allocated while reading this tensor is still counted
      checksum += t.values[0];
      previous = t.values.byteLength;
      gc();
      base = mem();
    }
    expect(Number.isFinite(checksum)).toBe(true);
    console.log(
      `streaming load: peak ${(peak / 2 ** 20).toFixed(2)} MiB, largest tensor ${(largest / 2 ** 20).toFixed(2)} MiB, model ${(total / 2 ** 20).toFixed(2)} MiB (f32)`,
    );
    expect(peak).toBeLessThanOrEqual(2 * largest);
  });
});
