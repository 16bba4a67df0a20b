// The decode benchmark runs in Chromium on both routes (the engine's CPU route and WebGPU on the
// browser's adapter) on the bundled generator, and reports figures that hold together.
import { expect, test } from '@playwright/test';
import { PAGES_URL } from './browser.ts';
import type { DecodePage } from './pages/decode.ts';

test('bench --decode in Chromium: both routes, load, prefill and decode figures', async ({ page }) => {
  await page.goto(`${PAGES_URL}/e2e/pages/decode.html?routes=cpu,webgpu&batches=1,4&steps=3&prefill=1,16`);
  await page.waitForFunction(() => window.decode && window.decode.state !== 'running', null, { timeout: 120_000 });
  const result: DecodePage = await page.evaluate(() => window.decode);
  expect(result.error).toBeUndefined();
  expect(result.results.map((r) => r.route)).toEqual(['cpu', 'webgpu']);
  for (const r of result.results) {
    console.log(r.table);
    expect(r.load_s).toBeGreaterThan(0);
    expect(Object.keys(r.prefill_ms_per_token)).toEqual(['1', '16']);
    expect(Object.keys(r.decode_tokens_per_s)).toEqual(['1', '4']);
    for (const row of r.rows) expect(row.tokensPerSecond).toBeCloseTo((row.batch * 1000) / row.msPerStep, 6);
  }
});
