// The engine API in a page, with the engine in its web worker (comlink): see e2e/pages/api-worker.ts.
import { expect, test } from '@playwright/test';
import { PAGES_URL } from './browser.ts';
import type { ApiWorkerPage } from './pages/api-worker.ts';

test('engine API in a web worker: typed errors, queued and cancelled calls, generation, dispose', async ({ page }, testInfo) => {
  await page.goto(`${PAGES_URL}/e2e/pages/api-worker.html`);
  await page.waitForFunction(() => window.apiWorker && window.apiWorker.state !== 'running', null, { timeout: 150_000 });
  const r: ApiWorkerPage = await page.evaluate(() => window.apiWorker);
  await testInfo.attach('api-worker.json', { body: JSON.stringify(r, null, 2), contentType: 'application/json' });
  expect(r.error).toBeUndefined();
  expect(r.runsIn).toBe('worker');
  expect(r.optionError).toEqual({ isOptionError: true, message: expect.stringContaining('multiple of') });
  expect(r.order).toEqual(['first', 'third']);
  expect(r.queuedCancel).toEqual({ isCancelled: true, events: 0 });
  expect(r.sameAsAlone).toBe(true);
  expect(r.generated!.text.length).toBeGreaterThan(0);
  expect(r.generated!.streamed).toBe(r.generated!.text);
  expect(r.statsAfter).toEqual({ kvPagesInUseGenerator: 0, kvPagesInUseVerifier: 0, queuedCalls: 0 });
  expect(r.afterDispose).toBe(true);
});
