// The decode benchmark runs on the CPU route and reports sane, internally consistent numbers.
import { expect, test } from 'vitest';
import { benchDecode } from '../src/commands/bench-decode.ts';
import { OptionError } from '../src/errors.ts';

test('benchDecode: tokens/s per batch, weight bandwidth as a fraction of measured copy bandwidth', async () => {
  const r = await benchDecode({ batches: [1, 4], steps: 2, promptTokens: 4 });
  expect(r.rows.map((x) => x.batch)).toEqual([1, 4]);
  expect(r.copyBytesPerSecond).toBeGreaterThan(0);
  for (const x of r.rows) {
    expect(x.tokensPerSecond).toBeCloseTo((x.batch * 1000) / x.msPerStep, 6);
    expect(x.fractionOfCopyBandwidth).toBeCloseTo(x.weightBytesPerSecond / r.copyBytesPerSecond, 9);
    expect(x.weightBytes).toBeGreaterThan(1e6);
  }
  expect(r.table).toContain(r.route);
  expect(r.table.split('\n')).toHaveLength(2 + r.rows.length);
  await expect(benchDecode({ batches: [0] })).rejects.toBeInstanceOf(OptionError);
});
