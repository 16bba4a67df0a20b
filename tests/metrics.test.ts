import { describe, expect, it } from 'vitest';
import { syntheticEnv } from '../src/simulation/cost-model-runner.ts';
import { syntheticProblem } from '../src/simulation/synthetic-model.ts';
import { solve } from '../src/search/solve.ts';
import { preciseGoodputOver } from '../src/metrics/goodput.ts';
import { benchCostModel } from '../src/commands/bench.ts';
import { defaultSearchOptions } from '../src/search/context.ts';
import { modelShape } from '../src/metrics/cost-model.ts';
import { hardwareProfile } from '../src/metrics/hardware-profiles.ts';

const STATS = { stepLengths: [3, 5, 8, 12], stepsPerSolution: [3, 4], stepErrorRate: 0.1 };

describe('metrics', () => {
  it('solve reports goodput, precise goodput and a trace of every forward call', async () => {
    const env = syntheticEnv({
      generatorPages: 2000,
      verifierPages: 2000,
      pageSize: 8,
      stats: STATS,
      trace: true,
      cost: { profile: hardwareProfile('rtx4090'), generator: modelShape('qwen2.5-math-1.5b'), verifier: modelShape('skywork-prm-1.5b') },
    });
    const out = await solve(env, defaultSearchOptions({ n: 8, iterations: 6, speculationBatch: 8 }), syntheticProblem(1).problem);
    const m = out.metrics;
    expect(m.completed_beams).toBeGreaterThan(0);
    expect(m.latency_ms).toBeGreaterThanOrEqual(m.generator_ms + m.verifier_ms); // plus the prompt prefill
    expect(m.goodput).toBeCloseTo((m.mean_tokens_per_completed_beam * 1000) / m.latency_ms, 6);
    expect(m.precise_goodput).toBeGreaterThanOrEqual(m.goodput); // beams complete no later than the search ends
    expect(Math.max(...m.beam_completion_ms)).toBeLessThanOrEqual(m.latency_ms + 1e-9);
    expect(env.trace!.entries.length).toBe(m.forward_calls + 2); // + the two root prefills
    expect(env.trace!.entries.reduce((a, e) => a + e.ms, 0)).toBeLessThanOrEqual(m.latency_ms + 1e-6);
    expect(preciseGoodputOver([m, m])).toBeCloseTo(m.precise_goodput, 6);
  });

  it('the cost-model bench returns baseline and FastTTS rows and their ratios', async () => {
    const r = await benchCostModel({
      n: [8],
      problems: 1,
      budgets: ['full'],
      settings: ['engine'],
      pairings: ['1.5b+1.5b'],
      modes: ['baseline', 'fasttts'],
      stats: STATS,
      iterations: 8,
    });
    expect(r.rows.map((x) => x.mode)).toEqual(['baseline', 'fasttts']);
    expect(r.rows.every((x) => x.source === 'cost-model' && x.latency_ms > 0 && x.precise_goodput > 0)).toBe(true);
    expect(r.ratios).toHaveLength(1);
    expect(r.ratios[0].precise_goodput_ratio).toBeCloseTo(r.rows[1].precise_goodput / r.rows[0].precise_goodput, 9);
  });

  it("the paper's setting (f16, tensor cores) and a tight budget are rows of their own, and the table says what it replays", async () => {
    const { formatRatios, TIGHT_KV_BYTES } = await import('../src/commands/bench.ts');
    const r = await benchCostModel({
      n: [8],
      problems: 1,
      budgets: ['tight'],
      settings: ['engine', 'paper'],
      pairings: ['1.5b+1.5b'],
      modes: ['baseline', 'fasttts'],
      stats: { ...STATS, source: 'test statistics' },
      iterations: 6,
    });
    expect(r.rows.map((x) => `${x.setting} ${x.profile} ${x.budget}`)).toEqual([
      `engine rtx4090 kv${TIGHT_KV_BYTES / 2 ** 30}GiB`,
      `engine rtx4090 kv${TIGHT_KV_BYTES / 2 ** 30}GiB`,
      `paper rtx4090-tensor kv${TIGHT_KV_BYTES / 2 ** 30}GiB`,
      `paper rtx4090-tensor kv${TIGHT_KV_BYTES / 2 ** 30}GiB`,
    ]);
    // f16 weights are read on every decode step: the paper setting's calls are slower at n = 8.
    expect(r.rows[2].latency_ms).toBeGreaterThan(r.rows[0].latency_ms);
    expect(r.ratios.map((x) => x.setting)).toEqual(['engine', 'paper']);
    expect(r.statistics).toBe('test statistics');
    const table = formatRatios(r.ratios);
    expect(table).toContain('step statistics replayed: test statistics');
    expect(table).toContain('setting paper: f16 weights');
    // The engine setting stores K/V as the engine does: f16 by default, f32 when the bench was told so.
    expect(table).toContain('setting engine: q4 weights, f16 K/V');
    expect(formatRatios(r.ratios, 'f32')).toContain('setting engine: q4 weights, f32 K/V');
  });
});

describe('recorded step statistics', () => {
  it('come from the beams of real results and drive the synthetic workload', async () => {
    const { recordStepStatistics } = await import('../src/simulation/step-statistics.ts');
    const env = syntheticEnv({ generatorPages: 2000, verifierPages: 2000, pageSize: 8, stats: STATS });
    const { runSearch } = await import('../src/search/search.ts');
    const r = await runSearch(env, defaultSearchOptions({ method: 'best-of-n', n: 8, speculationBatch: 0 }), syntheticProblem(2).problem);
    const stats = recordStepStatistics([r])!;
    expect(stats.stepLengths.length).toBeGreaterThan(8);
    expect(Math.max(...stats.stepLengths)).toBeLessThanOrEqual(16); // the longest configured step (12) plus the answer step
    expect(stats.stepsPerSolution.every((k) => k >= 3)).toBe(true);
    expect(stats.stepErrorRate).toBeGreaterThanOrEqual(0);
  });
});
