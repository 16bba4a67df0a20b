import { describe, expect, it } from 'vitest';
import { modelShape } from '../src/metrics/cost-model.ts';
import { hardwareProfile, type HardwareProfile } from '../src/metrics/hardware-profiles.ts';
import {
  IterationModel,
  MemoryPlanner,
  formatPlannerEntry,
  holdLongestBeams,
  kvBudgetBytes,
  plannerHook,
  type PlannerWorkload,
} from '../src/search/memory-planner.ts';
import { OutOfMemoryError } from '../src/errors.ts';
import { kvBytesPerTokenOf } from '../src/metrics/cost-model.ts';
import { syntheticEnv, type CostModelRunner } from '../src/simulation/cost-model-runner.ts';
import { syntheticProblem } from '../src/simulation/synthetic-model.ts';
import { KvArena } from '../src/runtime/kv-arena.ts';
import { arenaSearchPools } from '../src/search/search-kv.ts';
import { runSearch, type SearchResult } from '../src/search/search.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions, type SearchOptions, type Techniques } from '../src/search/context.ts';
import { lentOut } from './kv-page-store.ts';
import { mulberry32 } from '../src/model/random-model.ts';

const profile = hardwareProfile('rtx4090');
const generator = modelShape('qwen2.5-math-1.5b');
const verifier = modelShape('skywork-prm-1.5b');
const GiB = 2 ** 30;

function workload(rand: () => number): PlannerWorkload {
  const beams = [4, 8, 16, 32, 64, 128][Math.floor(rand() * 6)];
  const ctx = 100 + Math.floor(rand() * 900);
  return {
    beams,
    stepLengths: Array.from({ length: 6 }, () => 5 + Math.floor(rand() * 150)),
    generatorContext: ctx,
    verifierContext: ctx + Math.floor(rand() * 40),
    sharedPrefixTokens: Math.floor(rand() * ctx),
  };
}

describe('memory planner', () => {
  it('picks the predicted-best split (checked against every split)', () => {
    const rand = mulberry32(3);
    for (let k = 0; k < 12; k++) {
      const kvBytes = (0.15 + rand() * 0.5) * GiB;
      const planner = new MemoryPlanner({ kvBytes, profile, generator, verifier, allowOffload: false });
      const w = workload(rand);
      const choice = planner.plan(w);
      const m = new IterationModel({ kvBytes, profile, generator, verifier });
      let best = Infinity;
      for (let g = 0; g <= m.maxGeneratorPages; g++)
        best = Math.min(best, m.predict(w, { generatorPages: g, verifierPages: m.verifierPagesFor(g), offload: false }).ms);
      expect(choice.ms).toBeCloseTo(best, 9);
      // Never worse than the baseline's static 50/50 split, and the split fits the KV bytes.
      expect(choice.ms).toBeLessThanOrEqual(planner.planStatic(w, 0.5).ms);
      expect(choice.generatorPages * m.generatorPageBytes + choice.verifierPages * m.verifierPageBytes).toBeLessThanOrEqual(kvBytes);
    }
  });

  it('gives the decoding generator the larger share when the verifier only prefills short steps', () => {
    const planner = new MemoryPlanner({ kvBytes: 0.75 * GiB, profile, generator, verifier, allowOffload: false });
    const choice = planner.plan({ beams: 64, stepLengths: [40, 60, 80, 200], generatorContext: 600, verifierContext: 600, sharedPrefixTokens: 580 });
    expect(choice.generatorPages).toBeGreaterThan(choice.verifierPages);
    expect(choice.generatorConcurrency).toBe(64);
  });

  it("offloads the idle model's KV only when memory is tight and the host link makes it pay", () => {
    const w: PlannerWorkload = { beams: 64, stepLengths: [30, 60, 90], generatorContext: 500, verifierContext: 500, sharedPrefixTokens: 100 };
    const tight = new MemoryPlanner({ kvBytes: 0.1 * GiB, profile, generator, verifier });
    expect(tight.plan(w).offload).toBe(true);
    const slowLink: HardwareProfile = { ...profile, hostLinkBandwidth: 1e6 };
    expect(new MemoryPlanner({ kvBytes: 0.1 * GiB, profile: slowLink, generator, verifier }).plan(w).offload).toBe(false);
    const roomy = new MemoryPlanner({ kvBytes: 8 * GiB, profile, generator, verifier });
    const p = roomy.plan(w);
    expect(p.offload).toBe(false);
    expect(p.recomputedTokens).toBe(0);
  });

  it('re-plans as the workload changes, and logs inputs, choice, predicted and observed time', () => {
    const lines: string[] = [];
    const planner = new MemoryPlanner({
      kvBytes: 0.2 * GiB,
      profile,
      generator,
      verifier,
      allowOffload: false,
      onLog: (e) => lines.push(formatPlannerEntry(e)),
    });
    const a = planner.plan({ beams: 16, stepLengths: [50], generatorContext: 200, verifierContext: 200, sharedPrefixTokens: 150 });
    planner.observe(123.4);
    // More beams with a longer generator context and a short verifier context: the generator gets more.
    const b = planner.plan({ beams: 64, stepLengths: [50, 300], generatorContext: 600, verifierContext: 100, sharedPrefixTokens: 50 });
    expect(b.generatorPages).toBeGreaterThan(a.generatorPages);
    expect(planner.log).toHaveLength(2);
    expect(planner.log[0].observedMs).toBe(123.4);
    expect(planner.log[1].inputs.beams).toBe(64);
    expect(lines[0]).toMatch(/predicted [\d.]+ ms .* observed 123\.4 ms/);
  });

  it('reports budgets that cannot work as OutOfMemoryError', () => {
    expect(() => kvBudgetBytes({ budgetBytes: 1 * GiB, profile, generator, verifier })).toThrow(OutOfMemoryError); // 2 x 0.96 GB of weights
    expect(kvBudgetBytes({ budgetBytes: 3 * GiB, profile, generator, verifier })).toBeGreaterThan(0.5 * GiB);
    const tiny = new MemoryPlanner({ kvBytes: 2 ** 20, profile, generator, verifier });
    expect(() => tiny.plan({ beams: 4, stepLengths: [10], generatorContext: 100, verifierContext: 100, sharedPrefixTokens: 0 })).toThrow(OutOfMemoryError);
  });
});

describe('the planner in the search loop (cost-model runner, one KV arena)', () => {
  it("under memory too tight for any split it chooses offload mode, the arena really moves the idle pool to host memory and back, and the beams are the roomy baseline's", async () => {
    const pageSize = 16;
    const gpb = pageSize * kvBytesPerTokenOf(generator),
      vpb = pageSize * kvBytesPerTokenOf(verifier);
    const options = (techniques: Techniques, planMemory?: SearchOptions['planMemory'], onIteration?: SearchOptions['onIteration']) =>
      defaultSearchOptions({
        method: 'beam',
        n: 16,
        beamWidth: 4,
        iterations: 6,
        techniques,
        speculationBatch: 16,
        planMemory,
        onIteration,
        sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 3 },
      });
    const key = (r: SearchResult) => JSON.stringify([r.answer, r.beams.map((b) => [b.text, b.score, b.completed, b.stepScores])]);
    const { problem } = syntheticProblem(1);
    // The reference: the baseline with room for everything (static pools of 8 GiB each).
    const roomy = await runSearch(
      syntheticEnv({
        generatorPages: Math.floor((8 * GiB) / gpb),
        verifierPages: Math.floor((8 * GiB) / vpb),
        pageSize,
        cost: { profile, generator, verifier },
      }),
      options(BASELINE_TECHNIQUES),
      problem,
    );

    // 256 MiB of KV (146 pages per model at an even split): 16 beams of ~600 tokens need ~600 pages per model.
    const kvBytes = 256 * 2 ** 20;
    const arena = new KvArena({ totalBytes: kvBytes, pageSize, generatorPageBytes: gpb, verifierPageBytes: vpb });
    const env = {
      ...syntheticEnv({
        generatorPages: arena.generatorRegion.numPages,
        verifierPages: arena.verifierRegion.numPages,
        pageSize,
        cost: { profile, generator, verifier },
      }),
      ...arenaSearchPools(arena),
    };
    arena.generator.attachIo(lentOut(env.generator as CostModelRunner));
    arena.verifier.attachIo(lentOut(env.verifier as CostModelRunner));
    const planner = new MemoryPlanner({ kvBytes, profile, generator, verifier, pageSize, verifierPagesFor: (g) => arena.verifierPagesFor(g) });
    const fast = await runSearch(
      env,
      options(FASTTTS_TECHNIQUES, plannerHook(planner), (it, _beams, _required, ms) => planner.observe(ms, it)),
      problem,
    );

    expect(key(fast)).toBe(key(roomy));
    expect(planner.log.filter((e) => e.choice.offload).length).toBeGreaterThan(0);
    const s = arena.stats();
    expect(s.generator.hostTransferBytes).toBeGreaterThan(0);
    expect(s.verifier.hostTransferBytes).toBeGreaterThan(0);
    expect(arena.offloading).toBe(false); // handed back with both pools on the device
    // Every iteration's entry has its own measured time (virtual clock: transfers charged at the host link).
    expect(planner.log.map((e) => e.iteration)).toEqual([...Array(planner.log.length).keys()]);
    for (const e of planner.log) expect(e.observedMs).toBeGreaterThan(0);
  }, 60_000);
});

describe('holdLongestBeams', () => {
  // 100 pages of each size in one arena: the verifier gets what the generator leaves.
  const arena = new KvArena({ totalBytes: 100, generatorPageBytes: 1, verifierPageBytes: 1, pageSize: 4 });
  it('moves the boundary so that each pool holds its longest beam, and leaves an offload choice alone', () => {
    expect(holdLongestBeams(arena, { generatorPages: 90, verifierPages: 10, offload: false }, { minGeneratorPages: 20, minVerifierPages: 30 })).toEqual({
      generatorPages: 70,
      verifierPages: 30,
      offload: false,
    });
    expect(holdLongestBeams(arena, { generatorPages: 5, verifierPages: 95, offload: false }, { minGeneratorPages: 20, minVerifierPages: 30 })).toEqual({
      generatorPages: 20,
      verifierPages: 80,
      offload: false,
    });
    expect(holdLongestBeams(arena, { generatorPages: 50, verifierPages: 50, offload: false }, { minGeneratorPages: 20, minVerifierPages: 30 })).toEqual({
      generatorPages: 50,
      verifierPages: 50,
      offload: false,
    });
    const offload = { generatorPages: 100, verifierPages: 100, offload: true };
    expect(holdLongestBeams(arena, offload, { minGeneratorPages: 20, minVerifierPages: 30 })).toBe(offload);
  });
});
