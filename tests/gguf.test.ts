// GGUF: block dequantizers against llama.cpp's gguf-py, quantize/dequantize tolerances, fixture models
// in every GGUF type against the random model, qwen2 metadata and tensor names, the tokenizer built from
// GGUF metadata on the real Qwen vocabulary, and malformed files.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../src/errors.ts';
import { parseQwen2Config } from '../src/model/config.ts';
import { readGgufHeader, readGgufTensor } from '../src/model/gguf.ts';
import { loadGgufModel, hfTensorName } from '../src/model/gguf-loader.ts';
import { GGML_BLOCKS, GgmlType, dequantize, dequantizeInto, packedFromGguf, packsExactly, quantize } from '../src/model/gguf-quant.ts';
import { unpackMatrix } from '../src/gpu/quant.ts';
import { readTensorSlices } from '../src/model/tensor-reader.ts';
import { ggufTokenizerFiles } from '../src/model/gguf-tokenizer.ts';
import { mulberry32, randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { memoryFile, memoryFileSet } from '../src/model/sources/byte-file.ts';
import { nodeFileSet } from '../src/model/sources/node-fs.ts';
import { Tokenizer } from '../src/model/tokenizer.ts';
import { writeFixtureModel } from '../tools/make-fixture-model.ts';
import { encodeGgufHeader, padTo, qwen2Metadata, tokenizerMetadata, type GgufMeta, type GgufTensorSpec } from '../tools/gguf-writer.ts';
import { qwenTokenizerFiles } from './formats-qwen-vocab.ts';

const reference = JSON.parse(readFileSync(new URL('./fixtures/ggml-blocks-reference.json', import.meta.url), 'utf8')) as {
  types: Record<string, { bytes: number[]; values: number[] }>;
};

describe('GGML block dequantizers', () => {
  for (const [name, ref] of Object.entries(reference.types)) {
    it(`${name} matches llama.cpp's gguf-py on random blocks`, () => {
      const got = dequantize(GgmlType[name as keyof typeof GgmlType], Uint8Array.from(ref.bytes), ref.values.length);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref.values[i]) / Math.max(1e-6, Math.abs(ref.values[i])));
      // gguf-py computes in f32 with a different operation order: allow a few f32 ulps.
      expect(worst).toBeLessThan(1e-5);
    });
  }

  it('decodes in slices of whole blocks exactly as in one piece, reporting progress between slices', async () => {
    for (const [name, ref] of Object.entries(reference.types)) {
      const type = GgmlType[name as keyof typeof GgmlType];
      const bytes = Uint8Array.from(ref.bytes);
      const blk = GGML_BLOCKS[type]!;
      const out = new Float32Array(ref.values.length);
      const seen: number[] = [];
      await readTensorSlices(
        memoryFile('t', bytes),
        0,
        bytes.length,
        out,
        { blockBytes: blk.bytes, blockElements: blk.elements },
        (b, o) => dequantizeInto(type, b, o),
        name,
        (n) => seen.push(n),
        blk.bytes + 1,
      );
      expect(Array.from(out)).toEqual(Array.from(dequantize(type, bytes, ref.values.length)));
      expect(seen).toEqual(Array.from({ length: bytes.length / blk.bytes - 1 }, (_, i) => (i + 1) * blk.bytes));
    }
  });

  // Tolerances of the simple quantizers on values in [-1, 1): relative RMS error of the block's range.
  const tolerance: Array<[keyof typeof GgmlType, number]> = [
    ['F16', 3e-4],
    ['BF16', 3e-3],
    ['Q8_0', 6e-3],
    ['Q6_K', 0.02],
    ['Q4_0', 0.1],
    ['Q4_K', 0.08],
  ];
  for (const [type, tol] of tolerance) {
    it(`${type}: quantize then dequantize within relative RMS ${tol}`, () => {
      const rand = mulberry32(3);
      const x = Float32Array.from({ length: 1024 }, () => rand() * 2 - 1);
      const y = dequantize(GgmlType[type], quantize(GgmlType[type], x), x.length);
      let se = 0,
        ss = 0;
      for (let i = 0; i < x.length; i++) {
        se += (x[i] - y[i]) ** 2;
        ss += x[i] ** 2;
      }
      expect(Math.sqrt(se / ss)).toBeLessThan(tol);
      expect(Math.sqrt(se / ss)).toBeGreaterThan(0); // they do quantize
    });
  }
});

// K-quants need rows of 256: hidden 256, intermediate 512, vocab 320 (>= 259 for the fixture tokenizer).
const config = tinyConfigJson({ hidden_size: 256, intermediate_size: 512, vocab_size: 320, num_attention_heads: 4, num_key_value_heads: 2 });
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fasttts-gguf-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('GGUF fixture models', () => {
  const cases: Array<[keyof typeof GgmlType, number]> = [
    ['F32', 0],
    ['F16', 4e-4],
    ['Q8_0', 6e-3],
    ['Q6_K', 0.02],
    ['Q4_0', 0.1],
    ['Q4_K', 0.08],
  ];
  for (const [type, tol] of cases) {
    it(`${type}: config, names and tensors of the random model (relative RMS < ${tol})`, async () => {
      const dir = join(root, type);
      await writeFixtureModel(dir, config, { format: 'gguf', ggufType: type as never, seed: 5 });
      const model = await loadGgufModel(await nodeFileSet(join(dir, 'model.gguf')));
      expect(model.config).toEqual(parseQwen2Config({ ...config, max_position_embeddings: 512 }));
      expect(model.tokenizer).not.toBeNull();
      const want = new Map<string, Float32Array>();
      for await (const t of randomModelSource(config, 5).tensors()) want.set(t.name, t.values);
      let count = 0;
      for await (const t of model.source.tensors()) {
        const w = want.get(t.name)!;
        expect(t.values.length).toBe(w.length);
        let se = 0,
          ss = 0;
        for (let i = 0; i < w.length; i++) {
          se += (w[i] - t.values[i]) ** 2;
          ss += w[i] ** 2;
        }
        const rel = Math.sqrt(se / ss);
        if (tol === 0) expect(rel).toBe(0);
        else expect(rel).toBeLessThan(t.shape.length === 1 ? 1e-7 : tol); // 1-D tensors stay F32
        count++;
      }
      expect(count).toBe(want.size);
    });
  }

  it('maps GGUF tensor names to Hugging Face names', () => {
    expect(hfTensorName('blk.11.attn_q.bias')).toBe('model.layers.11.self_attn.q_proj.bias');
    expect(hfTensorName('blk.0.ffn_down.weight')).toBe('model.layers.0.mlp.down_proj.weight');
    expect(hfTensorName('output_norm.weight')).toBe('model.norm.weight');
    expect(hfTensorName('token_embd.weight')).toBe('model.embed_tokens.weight');
    expect(hfTensorName('blk.0.mystery.weight')).toBe('blk.0.mystery.weight');
  });
});

describe('tokenizer from GGUF metadata', () => {
  it('encodes exactly like the real Qwen tokenizer.json', () => {
    const { tokenizerJson, tokenizerConfig } = qwenTokenizerFiles();
    const fromJson = new Tokenizer(tokenizerJson, tokenizerConfig);
    // What llama.cpp's converter writes for this vocabulary, read back through the GGUF path.
    const meta = new Map<string, unknown>();
    for (const [k, m] of Object.entries(tokenizerMetadata(tokenizerJson, tokenizerConfig, fromJson.vocabSize))) {
      meta.set(k, m.type === 'i32[]' ? Int32Array.from(m.value) : m.value);
    }
    const files = ggufTokenizerFiles('qwen.gguf', meta as never)!;
    const fromGguf = new Tokenizer(files.tokenizerJson, files.tokenizerConfig);
    const texts = [
      'Let $x^2 + \\frac{1}{2} = 3$.\n\nSo \\boxed{\\sqrt{5}}.',
      '数学 😀 ∑_{i=1}^n i = n(n+1)/2',
      "It's   spaced\t\tout\r\n123456789",
      '<|im_start|>user\nhi<|im_end|>\n',
    ];
    for (const t of texts) {
      expect(fromGguf.encode(t)).toEqual(fromJson.encode(t));
      expect(fromGguf.decode(fromGguf.encode(t))).toBe(t);
    }
    expect(fromGguf.eosTokenIds).toEqual([151645]);
    expect(fromGguf.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe(fromJson.applyChatTemplate([{ role: 'user', content: 'hi' }]));
  });
});

// ---- malformed files ----

const enc = new TextEncoder();
function ggufBytes(meta: Record<string, GgufMeta>, tensors: GgufTensorSpec[], data: Uint8Array[]): Uint8Array {
  const parts = [encodeGgufHeader(meta, tensors), ...data.map((d) => padTo(d))];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const oneTensor = (): Uint8Array =>
  ggufBytes({ 'general.architecture': { type: 'string', value: 'qwen2' } }, [{ name: 'w', dims: [32, 2], type: GgmlType.Q8_0 }], [new Uint8Array(68)]);

/** Offset of the first occurrence of `needle` in `hay`. */
function find(hay: Uint8Array, needle: string | number[]): number {
  const n = typeof needle === 'string' ? enc.encode(needle) : Uint8Array.from(needle);
  outer: for (let i = 0; i + n.length <= hay.length; i++) {
    for (let j = 0; j < n.length; j++) if (hay[i + j] !== n[j]) continue outer;
    return i;
  }
  throw new Error('needle not found');
}

async function expectGgufError(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  const file = memoryFile('bad.gguf', bytes);
  const err = await readGgufHeader(file).then(
    async (g) => {
      for (const t of g.tensors) await readGgufTensor(file, t);
      return null;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FormatError);
  expect((err as Error).message).toMatch(/^bad\.gguf: /);
  expect((err as Error).message).toMatch(pattern);
}

describe('malformed GGUF', () => {
  it('reads the valid base file', async () => {
    const g = await readGgufHeader(memoryFile('ok.gguf', oneTensor()));
    expect(g.tensors[0]).toMatchObject({ name: 'w', dims: [32, 2], elements: 64 });
  });
  it('bad magic', () => {
    const b = oneTensor();
    b[0] = 0x47 + 1;
    return expectGgufError(b, /bad magic/);
  });
  it('version 1', () => {
    const b = oneTensor();
    b[4] = 1;
    return expectGgufError(b, /unsupported GGUF version 1/);
  });
  it('big-endian file', () => {
    const b = oneTensor();
    b.set([0, 0, 0, 3], 4);
    return expectGgufError(b, /big-endian GGUF files are not supported/);
  });
  it('version 2 reads like version 3', async () => {
    const b = oneTensor();
    b[4] = 2;
    expect((await readGgufHeader(memoryFile('v2.gguf', b))).version).toBe(2);
  });
  it('truncated header', async () => {
    await expectGgufError(oneTensor().subarray(0, 40), /truncated|larger than the file/);
    await expectGgufError(oneTensor().subarray(0, 100), /truncated/);
  });
  it('truncated data', () => {
    const b = oneTensor();
    return expectGgufError(b.subarray(0, b.length - 40), /run past/);
  });
  it('absurd tensor count', () => {
    const b = oneTensor();
    b[8 + 6] = 0xff;
    return expectGgufError(b, /tensor count .* larger than the file|absurd tensor count/);
  });
  it('absurd metadata count', () => {
    const b = oneTensor();
    b[16 + 4] = 0x7f;
    return expectGgufError(b, /metadata count .* larger than the file/);
  });
  it('string length past the end', () => {
    const b = oneTensor();
    b[24 + 5] = 0x40;
    return expectGgufError(b, /length .* exceeds/);
  });
  it('unknown metadata value type', () => {
    const b = oneTensor();
    const o = find(b, 'general.architecture') + 20;
    b[o] = 99;
    return expectGgufError(b, /unknown value type 99/);
  });
  it('array count larger than the file', () => {
    const b = ggufBytes({ a: { type: 'i32[]', value: [1, 2] } }, [], []);
    b[find(b, 'a') + 1 + 8] = 0xff; // low byte of the count after the item type
    b[find(b, 'a') + 1 + 8 + 3] = 0xff;
    return expectGgufError(b, /array of \d+ items is larger than the file/);
  });
  it('duplicate metadata key', () => {
    const b = ggufBytes({ aa: { type: 'u32', value: 1 }, ab: { type: 'u32', value: 2 } }, [], []);
    b[find(b, 'ab') + 1] = 0x61;
    return expectGgufError(b, /duplicate metadata key "aa"/);
  });
  it('invalid UTF-8 in a key', () => {
    const b = ggufBytes({ ab: { type: 'u32', value: 1 } }, [], []);
    b[find(b, 'ab')] = 0xc3;
    b[find(b, [0xc3]) + 1] = 0x28;
    return expectGgufError(b, /not valid UTF-8/);
  });
  it('duplicate tensor names', () =>
    expectGgufError(
      ggufBytes(
        {},
        [
          { name: 'w', dims: [32], type: GgmlType.F32 },
          { name: 'w', dims: [32], type: GgmlType.F32 },
        ],
        [new Uint8Array(128), new Uint8Array(128)],
      ),
      /duplicate tensor "w"/,
    ));
  it('unsupported tensor type', () => {
    const b = ggufBytes({}, [{ name: 'w', dims: [32], type: GgmlType.F32 }], [new Uint8Array(128)]);
    b[find(b, [1, 0, 0, 0, 0, 0, 0, 0, 0x77]) + 9 + 4 + 8] = GgmlType.Q3_K;
    return expectGgufError(b, /unsupported tensor type Q3_K/);
  });
  it('too many dimensions', () =>
    expectGgufError(ggufBytes({}, [{ name: 'w', dims: [1, 1, 1, 1, 1], type: GgmlType.F32 }], [new Uint8Array(4)]), /5 dimensions/));
  it('row not a whole number of blocks', () =>
    expectGgufError(ggufBytes({}, [{ name: 'w', dims: [31], type: GgmlType.Q8_0 }], []), /not a whole number of Q8_0 blocks/));
  it('absurd shape', () => expectGgufError(ggufBytes({}, [{ name: 'w', dims: [2 ** 40, 2 ** 12], type: GgmlType.F32 }], []), /larger than the file|absurd/));
  it('misaligned offset', () => {
    const b = oneTensor();
    b[find(b, [1, 0, 0, 0, 0, 0, 0, 0, 0x77]) + 9 + 4 + 16 + 4] = 3;
    return expectGgufError(b, /not aligned/);
  });
  it('overlapping tensors', () => {
    const b = ggufBytes(
      {},
      [
        { name: 'a', dims: [64], type: GgmlType.F32 },
        { name: 'b', dims: [64], type: GgmlType.F32 },
      ],
      [new Uint8Array(256), new Uint8Array(256)],
    );
    b[find(b, [0x62, 0x01]) + 1 + 4 + 8 + 4 + 1] = 0; // b's offset 256 -> 0
    return expectGgufError(b, /overlap/);
  });
  it('bad alignment', () => expectGgufError(ggufBytes({ 'general.alignment': { type: 'u32', value: 24 } }, [], []), /not a power of two/));
  it('wrong architecture and missing keys reach the config check', async () => {
    const llama = ggufBytes({ 'general.architecture': { type: 'string', value: 'llama' } }, [], []);
    await expect(loadGgufModel(memoryFileSet('m', { 'x.gguf': llama }, 'x.gguf'))).rejects.toThrow(/unsupported general.architecture "llama"/);
    const c = parseQwen2Config(tinyConfigJson());
    const meta = { ...qwen2Metadata(c) };
    delete (meta as Record<string, unknown>)['qwen2.block_count'];
    const noLayers = ggufBytes(meta, [{ name: 'token_embd.weight', dims: [64, 96], type: GgmlType.F32 }], [new Uint8Array(64 * 96 * 4)]);
    await expect(loadGgufModel(memoryFileSet('m', { 'x.gguf': noLayers }, 'x.gguf'))).rejects.toThrow(/"num_hidden_layers" must be a positive integer/);
  });
});

describe('Q8_0 and Q4_0 matrices as the engine packs them', () => {
  it.each([
    [GgmlType.Q8_0, 'q8'],
    [GgmlType.Q4_0, 'q4'],
  ] as const)('%s repacks exactly: the packed matrix holds the dequantized values', (type, format) => {
    const rand = mulberry32(5);
    const values = Float32Array.from({ length: 6 * 64 }, () => rand() * 2 - 1);
    const bytes = quantize(type, values);
    const packed = packedFromGguf(type, bytes, 6, 64)!;
    expect(packed.format).toBe(format);
    expect(Array.from(unpackMatrix(packed))).toEqual(Array.from(dequantize(type, bytes, values.length)));
  });

  it('takes no other type, and no row length that is not a multiple of 32', () => {
    expect(packsExactly(GgmlType.Q4_K, 256)).toBe(false);
    expect(packsExactly(GgmlType.Q8_0, 48)).toBe(false);
    expect(packedFromGguf(GgmlType.F32, new Uint8Array(64 * 4), 1, 64)).toBeNull();
  });
});
