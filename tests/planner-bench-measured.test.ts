// The beam-search memory workload on the bundled models over the GPU KV arena (CPU route here):
// runs under a tight budget with the static split and with the planner, keeping every invariant.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { benchMemoryMeasured, formatMeasuredMemoryBench } from '../src/commands/bench-memory-measured.ts';
import { kvBytesPerToken, parseQwen2Config } from '../src/model/config.ts';

// Both bundled models share one backbone shape, so one page size serves both pools (f16 K/V, the
// default: 2 bytes per element; 0.625 MiB holds the pages 1.25 MiB held with f32).
const pageBytes = 16 * kvBytesPerToken(parseQwen2Config(JSON.parse(readFileSync('models/arith-generator/config.json', 'utf8'))), 2);
const budgetMiB = 0.625;
const budgetBytes = budgetMiB * 2 ** 20;

describe('measured memory benchmark (bundled models, WebGPU, tight KV budget)', () => {
  it('runs the planner and the static split side by side under memory pressure', async () => {
    const lines: string[] = [];
    const rows = await benchMemoryMeasured({ ns: [8], iterations: 2, kvBudgetMiB: budgetMiB, checkInvariants: true, onPlannerLog: (l) => lines.push(l) });
    expect(rows.map((r) => r.split)).toEqual(['static-50/50', 'planner']);
    for (const r of rows) {
      expect(r.source).toBe('measured');
      expect(r.latencyMs).toBeGreaterThan(0);
      // 0.625 MiB of 16-token pages: half each in the static split, never more than the arena.
      expect((r.meanGeneratorPages + r.meanVerifierPages) * pageBytes).toBeLessThanOrEqual(budgetBytes);
      expect(r.copyOnWriteCopies).toBeGreaterThan(0);
      expect(r.evictions + r.preemptions).toBeGreaterThan(0);
    }
    expect(rows[0].meanGeneratorPages).toBe(Math.floor(budgetBytes / pageBytes / 2));
    expect(lines).toHaveLength(2);
    expect(formatMeasuredMemoryBench(rows, budgetMiB)).toMatch(/measured on this device/);
  }, 300_000);
});
