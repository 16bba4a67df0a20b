import { describe, expect, it } from 'vitest';
import { childLineage, ROOT_LINEAGE, sampleToken, uniformAt, validateSampling, type SamplingOptions } from '../src/runtime/sampler.ts';
import { OptionError } from '../src/errors.ts';

const opts = (o: Partial<SamplingOptions>): SamplingOptions => ({ temperature: 1, topK: 0, topP: 1, seed: 7, ...o });

describe('counter-based sampler', () => {
  it('uniformAt is a pure function of (seed, lineage, position) and lies in [0, 1)', () => {
    const a = uniformAt(1, ROOT_LINEAGE, 5);
    expect(uniformAt(1, ROOT_LINEAGE, 5)).toBe(a);
    expect(uniformAt(2, ROOT_LINEAGE, 5)).not.toBe(a);
    expect(uniformAt(1, ROOT_LINEAGE, 6)).not.toBe(a);
    let sum = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = uniformAt(3, 11, i);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
    }
    // Mean of n uniforms has standard deviation 1/sqrt(12 n) ~ 0.002; 0.01 is five sigma.
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
  });

  it('child 0 inherits the parent lineage, siblings get distinct fresh lineages', () => {
    expect(childLineage(ROOT_LINEAGE, 0)).toBe(ROOT_LINEAGE);
    const kids = new Set([1, 2, 3, 4, 5].map((i) => childLineage(ROOT_LINEAGE, i)));
    expect(kids.size).toBe(5);
    expect(kids.has(ROOT_LINEAGE)).toBe(false);
    expect(childLineage(childLineage(ROOT_LINEAGE, 1), 1)).not.toBe(childLineage(ROOT_LINEAGE, 1));
  });

  it('greedy picks the argmax, lowest index on ties', () => {
    const logits = new Float32Array([0.1, 3, -1, 3, 2]);
    expect(sampleToken(logits, 0, 5, opts({ temperature: 0 }), 1, 0)).toBe(1);
    // Offsets select a row of a batch.
    const batch = new Float32Array([0, 0, 9, 5, 1, 0]);
    expect(sampleToken(batch, 3, 3, opts({ temperature: 0 }), 1, 0)).toBe(0);
  });

  it('temperature sampling follows the softmax distribution', () => {
    const logits = new Float32Array([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
    const counts = [0, 0, 0];
    const n = 20000;
    for (let p = 0; p < n; p++) counts[sampleToken(logits, 0, 3, opts({}), ROOT_LINEAGE, p)]++;
    // Binomial standard deviation at n = 20000 is at most 0.0036; 0.02 is over five sigma.
    expect(Math.abs(counts[0] / n - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(counts[1] / n - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(counts[2] / n - 0.2)).toBeLessThan(0.02);
  });

  it('top-k and top-p restrict the candidates', () => {
    const logits = new Float32Array([Math.log(0.4), Math.log(0.3), Math.log(0.2), Math.log(0.1)]);
    const seen = (o: SamplingOptions) => {
      const s = new Set<number>();
      for (let p = 0; p < 3000; p++) s.add(sampleToken(logits, 0, 4, o, 9, p));
      return [...s].sort();
    };
    expect(seen(opts({ topK: 2 }))).toEqual([0, 1]);
    expect(seen(opts({ topP: 0.65 }))).toEqual([0, 1]);
    expect(seen(opts({ topP: 0.35 }))).toEqual([0]);
    expect(seen(opts({}))).toEqual([0, 1, 2, 3]);
  });

  it('the token at a position does not depend on anything but its key and its logits', () => {
    const logits = new Float32Array(50).map((_, i) => Math.sin(i));
    const a = sampleToken(logits, 0, 50, opts({ temperature: 0.8 }), 1234, 17);
    const padded = new Float32Array(150);
    padded.set(logits, 100);
    expect(sampleToken(padded, 100, 50, opts({ temperature: 0.8 }), 1234, 17)).toBe(a);
  });

  it('rejects invalid options with an OptionError', () => {
    expect(() => validateSampling(opts({ temperature: -1 }))).toThrow(OptionError);
    expect(() => validateSampling(opts({ topP: 0 }))).toThrow(OptionError);
    expect(() => validateSampling(opts({ topK: 1.5 }))).toThrow(OptionError);
    expect(() => validateSampling(opts({ seed: -2 }))).toThrow(OptionError);
  });
});
