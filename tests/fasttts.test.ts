// The FastTTS parts that are not about equivalence: the device-derived speculation budget, the
// prefix-aware order, and the techniques' effect on work under memory pressure.
import { describe, expect, it } from 'vitest';
import { calibrateDecode } from '../src/search/calibration.ts';
import { prefixAwareOrder } from '../src/search/prefix-scheduler.ts';
import { CostModelRunner, syntheticEnv } from '../src/simulation/cost-model-runner.ts';
import { SyntheticRunner, syntheticProblem, type StepStatistics } from '../src/simulation/synthetic-model.ts';
import { VirtualClock } from '../src/metrics/trace.ts';
import { modelShape } from '../src/metrics/cost-model.ts';
import { hardwareProfile } from '../src/metrics/hardware-profiles.ts';
import type { ForwardBatch } from '../src/runtime/types.ts';
import { runSearch } from '../src/search/search.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions } from '../src/search/context.ts';

/** A CPU-like device: each sequence in a call costs the same, so nothing is ever free. */
class LinearCostRunner extends SyntheticRunner {
  constructor(readonly clock: VirtualClock) {
    super('causal-lm', 256, 16);
  }
  override async forward(batch: ForwardBatch) {
    this.clock.advance(0.05 + batch.chunks.reduce((a, c) => a + c.tokens.length, 0));
    return super.forward(batch);
  }
}

describe('speculation budget from calibration', () => {
  it('is one sequence on a linear-cost (CPU-like) device and larger on a GPU profile', async () => {
    const c1 = new VirtualClock();
    const cpu = await calibrateDecode(new LinearCostRunner(c1), c1, { maxBatch: 32 });
    expect(cpu.nearlyFreeBatch).toBe(1);
    expect(cpu.ms[cpu.batches.indexOf(32)]).toBeGreaterThan(10 * cpu.ms[0]);
    const c2 = new VirtualClock();
    const gpu = await calibrateDecode(new CostModelRunner('causal-lm', 4096, 16, modelShape('qwen2.5-math-1.5b'), hardwareProfile('rtx4090'), c2), c2, {
      maxBatch: 256,
      context: 256,
    });
    expect(gpu.nearlyFreeBatch).toBeGreaterThan(1);
    expect(gpu.ms[gpu.batches.indexOf(gpu.nearlyFreeBatch)]).toBeLessThanOrEqual(gpu.ms[0] * 1.15);
  });

  it('bisects past the last free power of two, and finds more free slots when the sequences share a prefix (as beams do)', async () => {
    const f16 = modelShape('qwen2.5-math-1.5b', { weightFormat: 'f16', kvBytesPerElement: 2, activationBytesPerElement: 2 });
    const run = async (sharedContext: number) => {
      const c = new VirtualClock();
      return calibrateDecode(new CostModelRunner('causal-lm', 1 << 14, 16, f16, hardwareProfile('rtx4090'), c), c, {
        maxBatch: 512,
        context: 1024,
        sharedContext,
      });
    };
    const own = await run(0);
    const shared = await run(1024 - 128);
    expect(shared.nearlyFreeBatch).toBeGreaterThan(2 * own.nearlyFreeBatch);
    for (const cal of [own, shared]) {
      const at = (b: number) => cal.ms[cal.batches.indexOf(b)];
      expect(at(cal.nearlyFreeBatch)).toBeLessThanOrEqual(cal.ms[0] * 1.15);
      // Every larger batch measured is past the slack (the curve is monotone here), and the bisection
      // measured at least one batch between two powers of two.
      for (const b of cal.batches) if (b > cal.nearlyFreeBatch) expect(at(b)).toBeGreaterThan(cal.ms[0] * 1.15);
      expect(cal.batches.some((b) => b > cal.nearlyFreeBatch && (b & (b - 1)) !== 0)).toBe(true);
    }
  });
});

describe('prefix-aware order', () => {
  it('is greedy longest-common-prefix: siblings adjacent, parents in order', () => {
    const seqs = [[1, 2, 3, 9], [5, 6], [1, 2, 4], [5, 7], [1, 2, 3, 8], [1]];
    expect(prefixAwareOrder(seqs)).toEqual([5, 0, 4, 2, 1, 3]);
    expect(prefixAwareOrder([])).toEqual([]);
  });
});

describe('FastTTS techniques at work', () => {
  const STATS: StepStatistics = { stepLengths: [3, 4, 5, 6, 8, 10, 16, 30], stepsPerSolution: [4, 5, 6], stepErrorRate: 0.1 };
  it('speculation is accepted and LookAhead scores ahead; prefix-aware scheduling recomputes less when memory is tight', async () => {
    let recomputeFifo = 0,
      recomputePrefix = 0,
      accepted = 0,
      lookahead = 0;
    for (let i = 0; i < 6; i++) {
      const run = async (techniques: typeof BASELINE_TECHNIQUES, pages: number) => {
        const env = syntheticEnv({ generatorPages: pages, verifierPages: pages, pageSize: 4, stats: STATS });
        const r = await runSearch(
          env,
          defaultSearchOptions({ n: 16, iterations: 6, techniques, speculationBatch: 32, sampling: { temperature: 0.8, topK: 0, topP: 1, seed: i } }),
          syntheticProblem(i).problem,
        );
        return { r, recomputed: env.generatorPool.stats.recomputedTokens + env.verifierPool.stats.recomputedTokens };
      };
      recomputeFifo += (await run(BASELINE_TECHNIQUES, 50)).recomputed;
      recomputePrefix += (await run({ ...BASELINE_TECHNIQUES, prefixScheduling: true }, 50)).recomputed;
      const fast = await run(FASTTTS_TECHNIQUES, 400);
      accepted += fast.r.counters.tokensSpeculativeAccepted;
      lookahead += fast.r.counters.lookaheadSteps;
      expect(fast.r.counters.tokensSpeculativeAccepted + fast.r.counters.tokensSpeculativeWasted).toBeLessThanOrEqual(fast.r.counters.tokensSpeculative);
    }
    expect(accepted).toBeGreaterThan(0);
    expect(lookahead).toBeGreaterThan(0);
    expect(recomputeFifo).toBeGreaterThan(0);
    expect(recomputePrefix).toBeLessThan(recomputeFifo);
  });

  it("speculation runs more than one selection ahead: shadows of speculative steps are promoted, and the beams stay the baseline's", async () => {
    let promoted = 0,
      nested = 0;
    for (let i = 0; i < 6; i++) {
      const run = async (techniques: typeof BASELINE_TECHNIQUES) => {
        const env = syntheticEnv({ generatorPages: 2000, verifierPages: 2000, pageSize: 4, stats: STATS });
        return runSearch(
          env,
          defaultSearchOptions({ n: 8, iterations: 6, techniques, speculationBatch: 64, sampling: { temperature: 0.8, topK: 0, topP: 1, seed: i } }),
          syntheticProblem(i).problem,
        );
      };
      const base = await run(BASELINE_TECHNIQUES);
      const fast = await run(FASTTTS_TECHNIQUES);
      expect(fast.beams.map((b) => b.text)).toEqual(base.beams.map((b) => b.text));
      expect(fast.answer).toBe(base.answer);
      expect(base.counters.shadowsPromoted).toBe(0);
      promoted += fast.counters.shadowsPromoted;
      nested += fast.counters.nestedShadowsPromoted;
    }
    expect(nested).toBeGreaterThan(0);
    expect(promoted).toBeGreaterThan(nested);
  });

  it('FastTTS frees the pages of beams it will never extend; the baseline leaves them cached (vLLM)', async () => {
    const run = async (techniques: typeof BASELINE_TECHNIQUES) => {
      const env = syntheticEnv({ generatorPages: 400, verifierPages: 400, pageSize: 4, stats: STATS });
      const r = await runSearch(
        env,
        defaultSearchOptions({ n: 16, iterations: 6, techniques, speculationBatch: 32, sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 5 } }),
        syntheticProblem(5).problem,
      );
      return { r, free: env.generatorPool.freePages };
    };
    const base = await run(BASELINE_TECHNIQUES);
    const fast = await run(FASTTTS_TECHNIQUES);
    expect(fast.r.beams.map((b) => b.text)).toEqual(base.r.beams.map((b) => b.text));
    // Pruned and complete beams' private pages: cached in the baseline, free in FastTTS.
    expect(fast.free).toBeGreaterThan(base.free);
  });

  it('releases every KV page it referenced (no leaks), in every method and mode', async () => {
    for (const method of ['beam', 'dvts', 'best-of-n'] as const) {
      for (const extra of [
        { techniques: BASELINE_TECHNIQUES },
        { techniques: FASTTTS_TECHNIQUES },
        { techniques: FASTTTS_TECHNIQUES, siblingKeepFraction: 0.85 },
      ]) {
        for (const pages of [60, 400]) {
          const env = syntheticEnv({ generatorPages: pages, verifierPages: pages, pageSize: 4, stats: STATS });
          await runSearch(
            env,
            defaultSearchOptions({ method, n: 8, iterations: 5, speculationBatch: 16, sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 3 }, ...extra }),
            syntheticProblem(3).problem,
          );
          expect(env.generatorPool.pagesReferenced, `${method} ${pages}`).toBe(0);
          expect(env.verifierPool.pagesReferenced, `${method} ${pages}`).toBe(0);
        }
      }
    }
  });
});
