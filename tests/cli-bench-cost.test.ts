// `bench --profile rtx4090` on a subset of the cost-model grid: --settings, --pairings and --budgets pick
// the rows (the whole grid takes over an hour on a 2-core machine), and bad names fail before any work.
import { describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchCommand } from '../src/commands/bench-cli.ts';
import { OptionError } from '../src/errors.ts';

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
    expect(await quiet(() => benchCommand(['--profile', 'rtx4090', '--n', '8', '--modes', 'baseline,fasttts', '--settings', 'paper', '--pairings', '7b+1.5b', '--budgets', 'tight', '--json', file]))).toBe(0);
    const out = JSON.parse(readFileSync(file, 'utf8'));
    expect(out.rows.map((r: { setting: string; pairing: string; budget: string; mode: string }) => `${r.setting} ${r.pairing} ${r.budget} ${r.mode}`))
      .toEqual(['paper 7b+1.5b kv2GiB baseline', 'paper 7b+1.5b kv2GiB fasttts']);
    expect(out.ratios).toHaveLength(1);
    expect(out.ratios[0].precise_goodput_ratio).toBeGreaterThan(1); // speculation has idle slots at n = 8
  }, 120_000);

  it('rejects unknown names and budgets before any work', async () => {
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--settings', 'gpu']))).rejects.toThrow(new OptionError('unknown bench setting "gpu" (known: engine, paper)'));
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--pairings', '3b']))).rejects.toThrow(new OptionError('unknown pairing "3b" (known: 1.5b+1.5b, 7b+1.5b)'));
    await expect(quiet(() => benchCommand(['--profile', 'rtx4090', '--budgets', 'full,0']))).rejects.toThrow(OptionError);
  });
});
