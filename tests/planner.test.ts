import { describe, expect, it } from 'vitest';
import { modelShape } from '../src/metrics/cost-model.ts';
import { hardwareProfile, type HardwareProfile } from '../src/metrics/hardware-profiles.ts';
import { IterationModel, MemoryPlanner, formatPlannerEntry, kvBudgetBytes, type IterationWorkload } from '../src/runtime/memory-planner.ts';
import { OutOfMemoryError } from '../src/errors.ts';
import { mulberry32 } from '../src/model/random-model.ts';

const profile = hardwareProfile('rtx4090');
const generator = modelShape('qwen2.5-math-1.5b');
const verifier = modelShape('skywork-prm-1.5b');
const GiB = 2 ** 30;

function workload(rand: () => number): IterationWorkload {
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
      for (let g = 0; g <= m.maxGeneratorPages; g++) best = Math.min(best, m.predict(w, { generatorPages: g, verifierPages: m.verifierPagesFor(g), offload: false }).ms);
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

  it('offloads the idle model\'s KV only when memory is tight and the host link makes it pay', () => {
    const w: IterationWorkload = { beams: 64, stepLengths: [30, 60, 90], generatorContext: 500, verifierContext: 500, sharedPrefixTokens: 100 };
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
    const planner = new MemoryPlanner({ kvBytes: 0.2 * GiB, profile, generator, verifier, allowOffload: false, onLog: (e) => lines.push(formatPlannerEntry(e)) });
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
