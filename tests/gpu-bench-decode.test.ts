// The decode benchmark runs on both routes here (the CPU route and WebGPU on Dawn's CPU adapter) and
// reports sane, internally consistent numbers.
import { expect, test } from 'vitest';
import { benchDecode } from '../src/commands/bench-decode.ts';
import { OptionError } from '../src/errors.ts';

test.each(['cpu', 'webgpu'] as const)('benchDecode on the %s route: load, prefill per token, tokens/s per batch, weight bandwidth', async (route) => {
  const r = await benchDecode({ route, batches: [1, 4], steps: 2, promptTokens: 4, prefillLengths: [1, 8] });
  expect(r.route).toBe(route);
  expect(r.routeDetail.startsWith(`${route}:`)).toBe(true);
  expect(r.rows.map((x) => x.batch)).toEqual([1, 4]);
  expect(r.copyBytesPerSecond).toBeGreaterThan(0);
  for (const x of r.rows) {
    expect(x.tokensPerSecond).toBeCloseTo((x.batch * 1000) / x.msPerStep, 6);
    expect(x.fractionOfCopyBandwidth).toBeCloseTo(x.weightBytesPerSecond / r.copyBytesPerSecond, 9);
    expect(x.weightBytes).toBeGreaterThan(1e6);
  }
  expect(r.load_s).toBeGreaterThan(0);
  expect(Object.keys(r.prefill_ms_per_token)).toEqual(['1', '8']);
  expect(r.decode_tokens_per_s['4']).toBeCloseTo(r.rows[1].tokensPerSecond, 9);
  expect(r.table).toContain(r.routeDetail);
  // Header, column names, one line per row, one summary line per model.
  expect(r.table.split('\n')).toHaveLength(2 + r.rows.length + r.models.length);
});

test('benchDecode refuses bad sizes and routes', async () => {
  await expect(benchDecode({ batches: [0] })).rejects.toBeInstanceOf(OptionError);
  await expect(benchDecode({ prefillLengths: [0] })).rejects.toBeInstanceOf(OptionError);
  await expect(benchDecode({ route: 'tpu' as never })).rejects.toBeInstanceOf(OptionError);
});
