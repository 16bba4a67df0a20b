// The browser benchmark end to end at a tiny size: `npm run bench:browser` drives headless Chromium
// through the worker API over the synthetic test split, and its self-contained HTML report renders in
// Chromium with its three charts and the adapter's description.
import { expect, test } from '@playwright/test';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PAGES_URL } from './browser.ts';

const run = promisify(execFile);

test('bench:browser writes JSON and an HTML report that renders with its charts', async ({ page }, testInfo) => {
  const out = testInfo.outputPath('bench');
  const { stdout } = await run(
    process.execPath,
    ['e2e/bench-browser.mjs', '--problems', '2', '--n', '2', '--iterations', '6', '--out', out, '--server', PAGES_URL],
    { timeout: 170_000 },
  );
  await testInfo.attach('bench-stdout.txt', { body: stdout, contentType: 'text/plain' });

  const json = JSON.parse(await readFile(join(out, 'browser-bench.json'), 'utf8'));
  expect(json.adapter).toMatch(/\S/);
  expect(json.records).toHaveLength(4); // 2 problems x 2 modes at n = 2
  for (const r of json.records) expect(r.metrics.latency_ms).toBeGreaterThan(0);
  expect(json.summary.map((s: { mode: string }) => s.mode).sort()).toEqual(['baseline', 'fasttts']);

  await page.goto(`file://${resolve(out, 'browser-bench.html')}`);
  await expect(page.locator('#adapter')).toContainText(json.adapter);
  const charts = page.locator('svg.chart');
  await expect(charts).toHaveCount(3);
  for (const title of ['Latency per problem', 'Goodput against n', 'Generator / verifier time']) {
    await expect(page.locator(`svg.chart[aria-label^="${title}"]`)).toBeVisible();
  }
  expect(await page.locator('svg.chart rect[height]').count()).toBeGreaterThan(4);
  await testInfo.attach('bench-report.png', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });
});
