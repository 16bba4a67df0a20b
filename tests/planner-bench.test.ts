import { describe, expect, it } from 'vitest';
import { benchMemory, formatMemoryBench } from '../src/commands/bench-memory.ts';

describe('memory benchmark (cost-model runner, 1.5B + 1.5B PRM shapes, 1 GiB KV)', () => {
  it('reports the planner and the static 50/50 split side by side', async () => {
    const lines: string[] = [];
    const rows = await benchMemory({ ns: [8, 32], problems: 1, iterations: 4, onPlannerLog: (l) => lines.push(l) });
    expect(rows.map((r) => [r.n, r.split])).toEqual([
      [8, 'static-50/50'],
      [8, 'planner'],
      [32, 'static-50/50'],
      [32, 'planner'],
    ]);
    // 1 GiB of f32 K/V at 56 KiB per token and 16-token pages: 1170 pages, 585 each in the static split.
    for (const r of rows.filter((x) => x.split === 'static-50/50')) expect(r.meanGeneratorPages).toBe(585);
    for (const r of rows) {
      expect(r.source).toBe('cost-model');
      expect(r.latencyMs).toBeGreaterThan(0);
      // Latency is the two phases plus the prompt's prefill.
      expect(r.latencyMs).toBeGreaterThanOrEqual(r.generatorMs + r.verifierMs - 1e-6);
      expect(r.latencyMs).toBeLessThan((r.generatorMs + r.verifierMs) * 1.05);
      expect(r.prefixHitRate).toBeGreaterThan(0);
      expect(r.prefixHitRate).toBeLessThan(1);
      expect(r.meanGeneratorPages + r.meanVerifierPages).toBeLessThanOrEqual(1170);
    }
    // The planner ran every iteration and logged predicted against observed time.
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/predicted .* observed [\d.]+ ms/);
    const table = formatMemoryBench(rows);
    expect(table).toMatch(/estimated by the cost model/);
    expect(table.split('\n')).toHaveLength(2 + rows.length);
  }, 120_000);
});
