// Hostile input: 10,000 seeded mutations per format through the real readers (safetensors, GGUF, a whole
// Hugging Face model directory with config/index/tokenizer files, a whole qwen2 GGUF model). Each input
// loads or fails with one single-line FormatError, in under 1 s, without outsized allocations.
// `npx tsx tools/fuzz-formats.ts --iterations 1000000` runs longer.
import { describe, expect, it } from 'vitest';
import { fuzz, fuzzTargets, type FuzzReport } from '../tools/fuzz-formats.ts';

const ITERATIONS = 10_000;
const targets = await fuzzTargets();

/** The problems seen (digits shown as N), as one string to match the checks that must have fired. */
const seen = (r: FuzzReport) => [...r.problems.keys()].join('\n');

describe('fuzzed model files', () => {
  const mustSee: Record<string, RegExp[]> = {
    safetensors: [/past the end/, /unknown dtype/, /not valid UTF/, /duplicate key/, /data_offsets .* out of range/, /invalid JSON/],
    gguf: [
      /truncated/,
      /larger than the file/,
      /unknown value type/,
      /unsupported tensor type/,
      /not aligned/,
      /overlap/,
      /run past/,
      /not valid UTF/,
      /absurd/,
    ],
    'hf-model': [/tensors do not match the config/, /invalid JSON/, /must be a positive integer/, /tokenizer/, /past the end|out of range/],
    'gguf-model': [/tensors do not match the config|qwen2 metadata/, /tokenizer/, /truncated/],
  };
  for (const target of targets) {
    it(`${target.name}: ${ITERATIONS} mutated inputs, only FormatErrors, each under 1 s`, async () => {
      const t0 = performance.now();
      const r = await fuzz(target, ITERATIONS, 20261128);
      const s = ((performance.now() - t0) / 1000).toFixed(1);
      console.log(
        `${target.name}: ${r.formatErrors} FormatError, ${r.loaded} loaded, slowest ${r.slowestMs.toFixed(1)} ms, worst ArrayBuffer growth ${r.worstAllocationRatio.toFixed(2)}x input, ${r.problems.size} distinct problems, ${s} s`,
      );
      expect(r.failures).toEqual([]);
      expect(r.formatErrors + r.loaded).toBe(ITERATIONS);
      expect(r.formatErrors).toBeGreaterThan(ITERATIONS * 0.5);
      expect(r.slowestMs).toBeLessThan(1000);
      for (const pattern of mustSee[target.name]) expect(seen(r), `${target.name} never reported ${pattern}`).toMatch(pattern);
    });
  }
});
