// `fasttts bench --memory`: both halves of the memory benchmark in one run (the cost model at
// Qwen2.5-Math shapes, and the bundled models measured on this device), sized by flags.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('fasttts bench --memory', () => {
  it('prints the estimated and the measured table side by side in one run and writes both row sets', () => {
    const json = join(mkdtempSync(join(tmpdir(), 'fasttts-bench-')), 'memory.json');
    const r = spawnSync(
      process.execPath,
      ['bin/fasttts.mjs', 'bench', '--memory', '--n', '8', '--iterations', '2', '--measured-n', '4', '--measured-kv-mib', '2', '--json', json],
      { encoding: 'utf8', timeout: 240_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const tables = r.stdout.split('\n').filter((l) => l.startsWith('KV memory benchmark'));
    expect(tables).toHaveLength(2);
    expect(tables[0]).toMatch(/estimated by the cost model .* KV budget 1024 MiB/);
    expect(tables[1]).toMatch(/measured on this device .* KV budget 2 MiB/);
    const rows = (JSON.parse(readFileSync(json, 'utf8')) as { rows: Array<{ source: string; n: number; split: string }> }).rows;
    expect(rows.map((x) => [x.source, x.n, x.split])).toEqual([
      ['cost-model', 8, 'static-50/50'],
      ['cost-model', 8, 'planner'],
      ['measured', 4, 'static-50/50'],
      ['measured', 4, 'planner'],
    ]);
  }, 300_000);
});
