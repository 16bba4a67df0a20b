// `bench --profile rtx4090` on a subset of the cost-model grid: --settings, --pairings and --budgets pick
// the rows (the whole grid takes over an hour on a 2-core machine), and bad names fail before any work.
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchCommand } from '../src/commands/bench-cli.ts';
import { FormatError, OptionError } from '../src/errors.ts';

async function quiet<T>(f: () => Promise<T>): Promise<T> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    return await f();
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('cost-model bench subsets', () => {
  it('runs only the chosen setting, pairing and budget', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fasttts-bench-')), 'cost.json');
    expect(
      await quiet(() =>
        benchCommand([
          '--profile',
          'rtx4090',
          '--n',
          '8',
          '--modes',
          'baseline,fasttts',
          '--settings',
          'paper',
          '--pairings',
          '7b+1.5b',
          '--budgets',
          'tight',
          '--json',
          file,
        ]),
      ),
    ).toBe(0);
    const out = JSON.parse(readFileSync(file, 'utf8'));
    expect(out.rows.map((r: { setting: string; pairing: string; budget: string; mode: string }) => `${r.setting} ${r.pairing} ${r.budget} ${r.mode}`)).toEqual([
      'paper 7b+1.5b kv2GiB baseline',
      'paper 7b+1.5b kv2GiB fasttts',
    ]);
    expect(out.ratios).toHaveLength(1);
    expect(out.ratios[0].precise_goodput_ratio).toBeGreaterThan(1); // speculation has idle slots at n = 8
  }, 120_000);

  it('replays the step statistics of --statistics: a named set or a recorded file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fasttts-bench-'));
    const run = async (statistics: string) => {
      const file = join(dir, 'cost.json');
      expect(
        await quiet(() =>
          benchCommand([
            '--profile',
            'rtx4090',
            '--n',
            '8',
            '--modes',
            'baseline,fasttts',
            '--settings',
            'paper',
            '--pairings',
            '1.5b+1.5b',
            '--budgets',
            'full',
            '--statistics',
            statistics,
            '--json',
            file,
          ]),
        ),
      ).toBe(0);
      return JSON.parse(readFileSync(file, 'utf8')) as {
        rows: Array<{ statistics: string; tokens_generated: number }>;
        ratios: Array<{ precise_goodput_ratio: number }>;
      };
    };
    const math500 = await run('math500');
    expect(math500.rows[0].statistics).toMatch(/^step lengths of MATH-500 reference solutions/);
    // Steps of exactly 20 tokens, 3 per solution: no straggler to fill, so speculation gains next to nothing.
    const uniform = join(dir, 'uniform.json');
    writeFileSync(uniform, JSON.stringify({ source: 'uniform steps', stepLengths: [20], stepsPerSolution: [3], stepErrorRate: 0.1 }));
    const flat = await run(uniform);
    expect(flat.rows[0].statistics).toBe(`uniform steps (${uniform})`);
    expect(flat.rows[0].tokens_generated).toBeLessThan(math500.rows[0].tokens_generated / 4);
    expect(flat.ratios[0].precise_goodput_ratio).toBeLessThan(1.2);
    expect(math500.ratios[0].precise_goodput_ratio).toBeGreaterThan(1.5);
  }, 120_000);

  it('sizes the speculation budget by --speculation-slack', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fasttts-bench-')), 'cost.json');
    const run = async (slack: string) => {
      expect(
        await quiet(() =>
          benchCommand([
            '--profile',
            'rtx4090',
            '--n',
            '8',
            '--modes',
            'fasttts',
            '--settings',
            'paper',
            '--pairings',
            '1.5b+1.5b',
            '--budgets',
            'full',
            '--speculation-slack',
            slack,
            '--json',
            file,
          ]),
        ),
      ).toBe(0);
      return (JSON.parse(readFileSync(file, 'utf8')) as { rows: Array<{ speculation_batch: number; tokens_speculative: number }> }).rows[0];
    };
    // No slack: no batch is as cheap as a batch of one, so nothing is speculated.
    const none = await run('0');
    expect(none.speculation_batch).toBe(1);
    expect(none.tokens_speculative).toBe(0);
    const wide = await run('0.5');
    expect(wide.speculation_batch).toBeGreaterThan(88); // the default slack's (0.15) budget on this profile
    expect(wide.tokens_speculative).toBeGreaterThan(0);
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--speculation-slack', 'wide']))).rejects.toThrow(
      new OptionError('--speculation-slack must be a number in [0, 10], got "wide"'),
    );
    await expect(quiet(() => benchCommand(['--profile', 'measured', '--speculation-slack', '0.5']))).rejects.toThrow(OptionError);
  }, 120_000);

  it('rejects a --statistics name or file it cannot use, before any work', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fasttts-bench-'));
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--statistics', 'qwen']))).rejects.toThrow(OptionError);
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--statistics', join(dir, 'none.json')]))).rejects.toThrow(
      new FormatError(join(dir, 'none.json'), 'no such file'),
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ stepLengths: [10, 0], stepsPerSolution: [3] }));
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--statistics', bad]))).rejects.toThrow(
      new FormatError(bad, 'stepLengths must be a non-empty list of positive integers (tokens per step)'),
    );
    writeFileSync(bad, '{"stepLengths": [');
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--statistics', bad]))).rejects.toThrow(new FormatError(bad, 'not valid JSON'));
    writeFileSync(bad, JSON.stringify({ stepLengths: [10], stepsPerSolution: [3], stepErrorRate: 1.5 }));
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--statistics', bad]))).rejects.toThrow(
      new FormatError(bad, 'stepErrorRate must be a number in [0, 1)'),
    );
    await expect(quiet(() => benchCommand(['--profile', 'measured', '--statistics', 'math500']))).rejects.toThrow(OptionError);
  });

  it('rejects unknown names and budgets before any work', async () => {
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--settings', 'gpu']))).rejects.toThrow(
      new OptionError('unknown bench setting "gpu" (known: engine, paper)'),
    );
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--pairings', '3b']))).rejects.toThrow(
      new OptionError('unknown pairing "3b" (known: 1.5b+1.5b, 7b+1.5b)'),
    );
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--budgets', 'full,0']))).rejects.toThrow(OptionError);
  });
});
