// Exact equivalence: FastTTS mode (and each technique alone) gives the same answer and the same
// completed beams (texts, scores) as the baseline for the same seed, on hundreds of synthetic problems.
import { describe, expect, it } from 'vitest';
import { syntheticEnv } from '../src/simulation/cost-model-runner.ts';
import { syntheticProblem, type StepStatistics } from '../src/simulation/synthetic-model.ts';
import { runSearch, type SearchResult } from '../src/search/search.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions, type SearchMethod, type Techniques } from '../src/search/context.ts';

// Short steps keep 200+ problems fast; straggler-shaped (a few long ones) so speculation has room.
const STATS: StepStatistics = { stepLengths: [2, 3, 3, 4, 4, 5, 6, 8, 12, 20], stepsPerSolution: [3, 4, 5, 6], stepErrorRate: 0.15 };

async function solve(i: number, method: SearchMethod, n: number, techniques: Techniques, pages = 4000, extra = {}): Promise<SearchResult> {
  const env = syntheticEnv({ generatorPages: pages, verifierPages: pages, pageSize: 4, stats: STATS });
  return runSearch(
    env,
    defaultSearchOptions({
      method,
      n,
      beamWidth: 4,
      iterations: 5,
      techniques,
      speculationBatch: 2 * n,
      maxStepTokens: 64,
      sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 1000 + i },
      ...extra,
    }),
    syntheticProblem(i).problem,
  );
}

const key = (r: SearchResult): string => JSON.stringify([r.answer, r.beams.map((b) => [b.text, b.score, b.completed, b.stepScores])]);

describe('FastTTS is exactly equivalent to the baseline', () => {
  for (const n of [8, 16]) {
    it(`beam search, n = ${n}, 200 problems`, async () => {
      let speculative = 0,
        accepted = 0,
        lookahead = 0,
        skipped = 0,
        early = 0,
        nested = 0;
      for (let i = 0; i < 200; i++) {
        const base = await solve(i, 'beam', n, BASELINE_TECHNIQUES);
        const fast = await solve(i, 'beam', n, FASTTTS_TECHNIQUES);
        expect(key(fast), `problem ${i}`).toBe(key(base));
        speculative += fast.counters.tokensSpeculative;
        accepted += fast.counters.tokensSpeculativeAccepted;
        lookahead += fast.counters.lookaheadSteps;
        skipped += fast.counters.stepsFromSpeculation;
        early += fast.counters.stepsScoredEarly;
        nested += fast.counters.nestedShadowsPromoted;
        expect(base.counters.tokensSpeculative).toBe(0);
        expect(base.counters.stepsScoredEarly).toBe(0);
      }
      // The techniques really ran: speculation was produced, reused (also from shadows of speculative
      // steps), and scored ahead; standard steps were scored during the generator phase.
      expect(speculative).toBeGreaterThan(0);
      expect(nested).toBeGreaterThan(0);
      expect(early).toBeGreaterThan(0);
      expect(accepted).toBeGreaterThan(0);
      expect(lookahead).toBeGreaterThan(0);
      expect(skipped).toBeGreaterThan(0);
    });
  }

  it('DVTS and best-of-N, n = 8, 60 problems each', async () => {
    for (const method of ['dvts', 'best-of-n'] as const) {
      for (let i = 0; i < 60; i++) {
        expect(key(await solve(i, method, 8, FASTTTS_TECHNIQUES)), `${method} problem ${i}`).toBe(key(await solve(i, method, 8, BASELINE_TECHNIQUES)));
      }
    }
  });

  it('each technique alone, and under a tight KV budget with preemption', async () => {
    // LookAhead and early verification act on speculation: each comes with it.
    const alone: Techniques[] = (['speculation', 'lookahead', 'prefixScheduling', 'earlyVerification'] as const).map((t) => ({
      ...BASELINE_TECHNIQUES,
      [t]: true,
      ...(t === 'lookahead' || t === 'earlyVerification' ? { speculation: true } : {}),
    }));
    for (let i = 0; i < 30; i++) {
      const base = key(await solve(i, 'beam', 8, BASELINE_TECHNIQUES));
      for (const t of alone) expect(key(await solve(i, 'beam', 8, t)), `problem ${i} ${JSON.stringify(t)}`).toBe(base);
    }
    let preemptions = 0;
    for (let i = 0; i < 30; i++) {
      const base = await solve(i, 'beam', 16, BASELINE_TECHNIQUES, 60);
      const fast = await solve(i, 'beam', 16, FASTTTS_TECHNIQUES, 60);
      expect(key(fast), `tight problem ${i}`).toBe(key(base));
      expect(key(base)).toBe(key(await solve(i, 'beam', 16, BASELINE_TECHNIQUES)));
      preemptions += base.counters.preemptions + fast.counters.preemptions;
    }
    expect(preemptions).toBeGreaterThan(0);
  });

  it("a verifier pool too small for every beam at once, with speculation and early scores: no out-of-memory, the roomy baseline's results", async () => {
    // Speculative shadows must not pin verifier pages (the verifier phase could not preempt them).
    for (const verifierPages of [30, 50]) {
      for (let i = 0; i < 30; i++) {
        const run = async (techniques: Techniques, pages: number) => {
          const env = syntheticEnv({ generatorPages: 4000, verifierPages: pages, pageSize: 4, stats: STATS });
          return runSearch(
            env,
            defaultSearchOptions({
              n: 16,
              beamWidth: 4,
              iterations: 6,
              techniques,
              speculationBatch: 64,
              maxStepTokens: 64,
              sampling: { temperature: 0.8, topK: 0, topP: 1, seed: i },
            }),
            syntheticProblem(i).problem,
          );
        };
        expect(key(await run(FASTTTS_TECHNIQUES, verifierPages)), `${verifierPages} pages, problem ${i}`).toBe(key(await run(BASELINE_TECHNIQUES, 4000)));
      }
    }
  });

  it("one shared arena, switching between splits and offload mode (the idle model's K/V in host memory): the baseline's results", async () => {
    // 120 pages of each size: tight for n = 16, so splits preempt and offload mode has work to move.
    let hostBytes = 0,
      offloaded = 0;
    for (let i = 0; i < 30; i++) {
      const run = async (techniques: Techniques, plan: boolean) => {
        const env = syntheticEnv({ pageSize: 4, stats: STATS, arena: { totalBytes: 240, generatorPageBytes: 1, verifierPageBytes: 1 } });
        const r = await runSearch(
          env,
          defaultSearchOptions({
            n: 16,
            beamWidth: 4,
            iterations: 6,
            techniques,
            speculationBatch: 64,
            maxStepTokens: 64,
            sampling: { temperature: 0.8, topK: 0, topP: 1, seed: i },
            // Offload on even iterations, a lopsided split on odd ones: every transition, both ways.
            planMemory: plan
              ? (w) => (w.iteration! % 2 === 0 ? { generatorPages: 240, verifierPages: 240, offload: true } : { generatorPages: 150, verifierPages: 90 })
              : undefined,
          }),
          syntheticProblem(i).problem,
        );
        const s = env.generatorPool.arena!.stats();
        return { r, hostBytes: s.generator.hostTransferBytes + s.verifier.hostTransferBytes };
      };
      const base = await run(BASELINE_TECHNIQUES, false);
      const fast = await run(FASTTTS_TECHNIQUES, true);
      expect(key(fast.r), `problem ${i}`).toBe(key(base.r));
      hostBytes += fast.hostBytes;
      if (fast.hostBytes > 0) offloaded++;
    }
    expect(offloaded).toBe(30);
    expect(hostBytes).toBeGreaterThan(0);
  });

  it("the paper's R-fraction truncation (R > 0) is offered and does change texts", async () => {
    let differ = 0;
    for (let i = 0; i < 20; i++) {
      const base = await solve(i, 'beam', 8, BASELINE_TECHNIQUES);
      const r85 = await solve(i, 'beam', 8, FASTTTS_TECHNIQUES, 4000, { siblingKeepFraction: 0.85 });
      expect(r85.beams.length).toBeGreaterThan(0);
      if (key(r85) !== key(base)) differ++;
    }
    expect(differ).toBeGreaterThan(0);
  });
});
