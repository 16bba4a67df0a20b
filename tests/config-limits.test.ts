// A hostile config.json cannot make the engine allocate by its numbers: absurd sizes are refused with a
// FormatError naming the file before anything is read or allocated, and the runner sizes its RoPE and
// block tables by the pages it holds, not by max_position_embeddings.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, PromptTooLongError } from '../src/errors.ts';
import { createGpu, type GpuContext } from '../src/gpu/device.ts';
import { CONFIG_LIMITS, parseQwen2Config } from '../src/model/config.ts';
import { openModel } from '../src/model/open-model.ts';
import { randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { createWebGpuRunner } from '../src/runtime/webgpu-runner.ts';

describe('config.json limits', () => {
  // Each size at 2^24 (the old upper bound, accepted before) and at 2^30.
  for (const key of Object.keys(CONFIG_LIMITS) as Array<keyof typeof CONFIG_LIMITS>) {
    for (const value of [1 << 24, 1 << 30]) {
      it(`${key} = ${value} is a FormatError naming config.json`, () => {
        const raw = tinyConfigJson({ [key]: value });
        let error: unknown;
        try {
          parseQwen2Config(raw, 'model/config.json');
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(FormatError);
        expect((error as FormatError).file).toBe('model/config.json');
        expect((error as FormatError).message).toContain(`"${key}" is ${value}, above the engine's limit of ${CONFIG_LIMITS[key]}`);
      });
    }
  }

  it('real configs stay within the limits (Qwen2.5-Math-1.5B, a 1M-context Qwen2.5, the 72B shapes)', () => {
    expect(() => parseQwen2Config(tinyConfigJson({ max_position_embeddings: 4096, vocab_size: 151936 }))).not.toThrow();
    expect(() => parseQwen2Config(tinyConfigJson({ max_position_embeddings: 1_010_000 }))).not.toThrow();
    expect(() =>
      parseQwen2Config(
        tinyConfigJson({
          hidden_size: 8192,
          num_attention_heads: 64,
          num_key_value_heads: 8,
          num_hidden_layers: 80,
          intermediate_size: 29568,
          vocab_size: 152064,
          max_position_embeddings: 131072,
        }),
      ),
    ).not.toThrow();
  });

  it('a model directory with an absurd config fails on config.json before anything else is read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fasttts-config-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(tinyConfigJson({ max_position_embeddings: 1 << 24 })));
    // No weights at all: the config is the first thing checked.
    await expect(openModel(dir)).rejects.toThrow(
      new FormatError(
        join(dir, 'config.json'),
        `"max_position_embeddings" is ${1 << 24}, above the engine's limit of ${CONFIG_LIMITS.max_position_embeddings}`,
      ),
    );
  });
});

describe('runner tables sized by its pages', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await createGpu();
  });
  afterAll(() => gpu?.destroy());

  it('max_position_embeddings at the limit with 4 pages: quick to build, positions end at 64', async () => {
    const source = randomModelSource(tinyConfigJson({ max_position_embeddings: CONFIG_LIMITS.max_position_embeddings }), 5);
    const t0 = performance.now();
    // Sized by the config, the RoPE table alone would be 4M positions x 16 floats (256 MiB) and the block
    // tables 256 rows x 262,144 pages.
    const runner = await createWebGpuRunner(gpu, source, { weightFormat: 'f32', numPages: 4, pageSize: 16, maxBatchTokens: 256 });
    try {
      expect(performance.now() - t0).toBeLessThan(20_000);
      const r = await runner.forward({
        chunks: [{ blockTable: [0, 1, 2, 3], start: 0, tokens: Array.from({ length: 64 }, (_, i) => i % 90), outputRows: [63] }],
      });
      expect(r.logits!.every(Number.isFinite)).toBe(true);
      // A block table naming a page twice would reach position 64, past what the runner can hold.
      await expect(runner.forward({ chunks: [{ blockTable: [0, 1, 2, 3, 0], start: 64, tokens: [5], outputRows: [0] }] })).rejects.toThrow(
        new PromptTooLongError(65, 64),
      );
    } finally {
      runner.dispose();
    }
  });
});
