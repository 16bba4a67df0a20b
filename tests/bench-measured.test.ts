// `bench --profile measured`: baseline and FastTTS on the bundled models, problem by problem, with the
// paired comparison the README's measured table reports (median latency ratio, identical results).
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchCommand } from '../src/commands/bench-cli.ts';
import { OptionError } from '../src/errors.ts';

describe('measured bench', () => {
  it('pairs each FastTTS run with the baseline run of the same problem and finds the same results', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fasttts-bench-')), 'bench.json');
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void printed.push(String(s)));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await benchCommand(['--profile', 'measured', '--n', '4', '--problems', '2', '--json', file])).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const out = JSON.parse(readFileSync(file, 'utf8'));
    const fast = out.rows.find((r: { mode: string }) => r.mode === 'fasttts');
    expect(fast.paired.problems).toBe(2);
    expect(fast.paired.same_as_baseline).toBe(2); // exact equivalence, checked on real beams
    expect(fast.paired.latency_ratio_median).toBeGreaterThan(0);
    const base = out.rows.find((r: { mode: string }) => r.mode === 'baseline');
    expect(base.paired).toBeUndefined();
    // The budget each mode ran with: none in baseline, the device's calibrated one (at least 1) in FastTTS.
    expect(base.speculation_batch).toBe(0);
    expect(fast.speculation_batch).toBeGreaterThanOrEqual(1);
    expect(printed.join('\n')).toMatch(
      /measured n=4 fasttts: median per-problem latency ratio \d+\.\d\d \(2 problems\); same answer and beam texts as the baseline on 2\/2/,
    );
  }, 120_000);

  it('rejects an n the search cannot run before starting the engine', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      await expect(benchCommand(['--profile', 'measured', '--n', '4,6'])).rejects.toThrow(
        new OptionError('--n (6) must be a multiple of --beam-width (4) for beam'),
      );
    } finally {
      err.mockRestore();
    }
  });
});
