// `fasttts bench --gpu-report --quick` (the small size of `npm run bench:gpu`) runs on the CPU route here,
// so the one command prepared for the first GPU cannot rot: kernel checks, decode tokens/s and FastTTS
// against the baseline, written to one JSON and one HTML report that name the adapter.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GpuReport } from '../src/commands/bench-gpu-report.ts';
import { stderrLines } from './cli-run.ts';

describe('fasttts bench --gpu-report --quick', () => {
  it('writes the JSON and HTML report: every kernel check passes, decode at batch 1/4/16/64, FastTTS gives the baseline answers', () => {
    const base = join(mkdtempSync(join(tmpdir(), 'fasttts-gpu-report-')), 'report');
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['bin/fasttts.mjs', 'bench', '--gpu-report', '--quick', '--report', base], { encoding: 'utf8', timeout: 290_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(300_000); // the quick size's promise: under 5 minutes on a CPU route
    const report = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as GpuReport;
    expect(report.size).toBe('quick');
    expect(report.adapter.length).toBeGreaterThan(0);
    expect(report.kvDtype).toBe('f16');
    expect(report.checks.failed).toBe(0);
    const names = report.checks.results.map((c) => c.name);
    for (const dtype of ['f16', 'f32']) {
      expect(names.some((n) => n.includes('attention') && n.endsWith(dtype))).toBe(true);
      expect(names).toContain(`rope + kv-write ${dtype}`);
      expect(names).toContain(`page-copy ${dtype}`);
    }
    expect(report.decode.rows.map((x) => x.batch)).toEqual([1, 4, 16, 64]);
    for (const x of report.decode.rows) expect(x.tokensPerSecond).toBeGreaterThan(0);
    expect(report.fasttts.comparisons).toHaveLength(1);
    const c = report.fasttts.comparisons[0];
    expect(c.n).toBe(8);
    expect(c.sameAsBaseline).toBe(c.problems);
    const html = readFileSync(`${base}.html`, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain(report.adapter);
    expect(html).toContain('Kernel checks: ');
    expect(html).toContain('<h2>FastTTS against the baseline');
    expect(r.stdout).toContain(`wrote ${base}.json and ${base}.html`);
    expect(stderrLines(r.stderr)[0]).toMatch(/^gpu report \(quick\) on /);
  }, 300_000);

  it('--quick and --report only size and name the report', () => {
    const r = spawnSync(process.execPath, ['bin/fasttts.mjs', 'bench', '--quick'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(stderrLines(r.stderr)).toEqual(['fasttts bench: --quick sizes --gpu-report: give both']);
  });
});
