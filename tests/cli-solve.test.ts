// The command-line contract of solve / eval on the bundled models, end to end through the real engine
// (WebGPU on whatever device Node finds; the CPU route here).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stderrLines } from './cli-run.ts';
import { parseStepStatistics } from '../src/simulation/step-statistics.ts';

function fasttts(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/fasttts.mjs', ...args], { encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const METRIC_KEYS = [
  'latency_ms',
  'generator_ms',
  'verifier_ms',
  'goodput',
  'precise_goodput',
  'tokens_generated',
  'tokens_speculative',
  'tokens_speculative_accepted',
  'speculation_batch',
  'prefix_hit_tokens',
  'recomputed_tokens',
  'iterations',
  'peak_kv_pages_generator',
  'peak_kv_pages_verifier',
  'kv_pages_capacity_generator',
  'kv_pages_capacity_verifier',
];

describe('fasttts solve / eval (bundled models)', () => {
  it('solve --json prints the contract object, the same in both modes for the same seed', () => {
    const outs = (['baseline', 'fasttts'] as const).map((mode) => {
      const r = fasttts(
        'solve',
        'Find the value of 6 - (7 - 7).',
        '--n',
        '4',
        '--beam-width',
        '2',
        '--iterations',
        '6',
        '--mode',
        mode,
        '--seed',
        '3',
        '--json',
      );
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as {
        answer: string | null;
        beams: Array<{ text: string; score: number; answer: string | null; completed: boolean; step_scores: Array<number | null>; step_tokens: number[] }>;
        metrics: Record<string, number>;
      };
    });
    for (const o of outs) {
      expect(o.beams.length).toBeGreaterThan(0);
      for (const b of o.beams) {
        expect(Object.keys(b).sort()).toEqual(['answer', 'completed', 'score', 'step_scores', 'step_tokens', 'text']);
        // One entry per step: its PRM score (beam search scores every step) and its generated tokens.
        expect(b.step_tokens.length).toBeGreaterThan(0);
        expect(b.step_scores).toHaveLength(b.step_tokens.length);
        for (const s of b.step_scores) expect(s).toBeGreaterThanOrEqual(0);
        for (const t of b.step_tokens) expect(Number.isInteger(t) && t >= 0).toBe(true);
      }
      for (const k of METRIC_KEYS) expect(typeof o.metrics[k], k).toBe('number');
      expect(o.metrics.latency_ms).toBeGreaterThan(0);
    }
    expect(outs[0].metrics.speculation_batch).toBe(0); // baseline never speculates
    expect(outs[1].metrics.speculation_batch).toBeGreaterThanOrEqual(1); // the device's calibration
    expect(outs[1].answer).toBe(outs[0].answer);
    expect(outs[1].beams.map((b) => b.text)).toEqual(outs[0].beams.map((b) => b.text));
  });

  it("eval --json reports accuracy over the bundled test split; --record-steps writes the runs' step statistics", () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fasttts-eval-')), 'steps.json');
    const r = fasttts('eval', '--limit', '2', '--method', 'greedy', '--json', '--record-steps', file);
    expect(r.status, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout) as {
      accuracy: number;
      problems: number;
      latency_ms_median: number;
      accuracy_by_difficulty: Record<string, number>;
      records: Array<{ difficulty: number; correct: boolean }>;
    };
    expect(o.problems).toBe(2);
    expect(o.records).toHaveLength(2);
    expect(o.accuracy).toBe(o.records.filter((x) => x.correct).length / 2);
    // The split cycles difficulties 1, 2, ...: one problem of each of the first two levels.
    expect(o.records.map((x) => x.difficulty)).toEqual([1, 2]);
    expect(o.accuracy_by_difficulty).toEqual({ 1: Number(o.records[0].correct), 2: Number(o.records[1].correct) });
    expect(o.latency_ms_median).toBeGreaterThan(0);
    // Greedy: one solution per problem, each step a few tokens of `a op b = c` (readable by bench --statistics).
    const stats = parseStepStatistics(JSON.parse(readFileSync(file, 'utf8')), file);
    expect(stats.stepsPerSolution).toHaveLength(2);
    expect(stats.stepLengths).toHaveLength(stats.stepsPerSolution.reduce((a, k) => a + k, 0));
    expect(Math.max(...stats.stepLengths)).toBeLessThan(40);
    expect(stats.source).toMatch(/^recorded from 2 greedy n=1 runs of .* on arith-test\.jsonl: \d+ steps, 2 completed solutions/);
  });

  it('solve --verbose logs the memory planner on stderr each iteration: inputs, choice, predicted against observed', () => {
    const r = fasttts('solve', 'Find the value of 6 - (7 - 7).', '--n', '4', '--beam-width', '2', '--iterations', '6', '--seed', '3', '--json', '--verbose');
    expect(r.status, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout) as { metrics: { iterations: number } };
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('planner '));
    expect(lines).toHaveLength(o.metrics.iterations);
    lines.forEach((l, i) =>
      expect(l).toMatch(new RegExp(`^planner it=${i} beams=\\d+ step mean \\d+ .* kv [\\d.]+ MiB -> .* predicted [\\d.]+ ms .* observed [\\d.]+ ms$`)),
    );
  });

  it('solve --kv-dtype: at the same --memory-mb, f16 K/V (the default) holds at least 1.9x the pages of f32', () => {
    const capacity = (...dtype: string[]) => {
      const r = fasttts('solve', 'Compute 8+3+9-8-6+7.', '--method', 'greedy', '--memory-mb', '48', '--json', ...dtype);
      expect(r.status, r.stderr).toBe(0);
      const m = (JSON.parse(r.stdout) as { metrics: Record<string, number> }).metrics;
      return [m.kv_pages_capacity_generator, m.kv_pages_capacity_verifier];
    };
    const [f16, f32, byDefault] = [capacity('--kv-dtype', 'f16'), capacity('--kv-dtype', 'f32'), capacity()];
    expect(byDefault).toEqual(f16);
    for (const i of [0, 1]) {
      expect(f32[i]).toBeGreaterThan(0);
      expect(f16[i]).toBeGreaterThanOrEqual(1.9 * f32[i]);
    }
    const bad = fasttts('solve', 'Find 1 + 1.', '--kv-dtype', 'bf16');
    expect(bad.status).not.toBe(0);
    expect(stderrLines(bad.stderr)).toEqual(['fasttts solve: --kv-dtype must be one of f16|f32, got "bf16"']);
  });

  it('rejects an n that beam search cannot split, in one line', () => {
    const r = fasttts('solve', 'Find 1 + 1.', '--n', '6', '--beam-width', '4');
    expect(r.status).not.toBe(0);
    expect(stderrLines(r.stderr)).toEqual(['fasttts solve: --n (6) must be a multiple of --beam-width (4) for beam']);
  });
});
