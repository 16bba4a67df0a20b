// The browser model cache: a model downloaded from a localhost URL is kept in the Cache API (chunks) with
// an IndexedDB manifest; after a page reload with the browser offline it loads again from the cache with
// identical tensors; a corrupted chunk is detected and fetched again; an interrupted download resumes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { PAGES_URL } from './browser.ts';
import type { CacheLoadResult } from './pages/model-cache.ts';

const MODEL_URL = `${PAGES_URL}/models/arith-generator/`;
const CHUNK = 256 * 1024;

test('model cache: download, offline reload, corruption, resume', async ({ page, context }) => {
  const open = async () => {
    await page.goto(`${PAGES_URL}/e2e/pages/model-cache.html`);
    await page.waitForFunction(() => window.modelCache?.ready === true);
  };
  const load = (opts: { chunkBytes?: number; failAfterRangeReads?: number; sha256?: Record<string, string> } = {}, url = MODEL_URL): Promise<CacheLoadResult> =>
    page.evaluate(([u, o]) => window.modelCache.load(u, o), [url, { chunkBytes: CHUNK, ...opts }] as const);

  await open();
  await page.evaluate(() => window.modelCache.clear());

  // 1. First load: everything is downloaded (in chunks) and cached.
  const first = await load();
  expect(first.error).toBeUndefined();
  expect(first.tensors).toBe(4 * 12 + 2);
  expect(first.stats.chunksFromCache).toBe(0);
  expect(first.stats.chunksFetched).toBeGreaterThan(6.8e6 / CHUNK);
  const manifest = await page.evaluate(() => window.modelCache.manifest());
  expect(manifest.every((m) => m.complete)).toBe(true);
  expect(manifest.find((m) => m.url.endsWith('model.safetensors'))?.size).toBeGreaterThan(6e6);

  // 2. Reload the page, go offline, load again: all from the cache, same bytes, same tokens.
  await page.reload();
  await page.waitForFunction(() => window.modelCache?.ready === true);
  await context.setOffline(true);
  const offline = await load();
  expect(offline.error).toBeUndefined();
  expect(offline.checksum).toBe(first.checksum);
  expect(offline.tokens).toEqual(first.tokens);
  expect(offline.stats.chunksFetched).toBe(0);
  expect(offline.stats.chunksFromCache).toBe(first.stats.chunksFetched);

  // A model that was never cached fails offline with one line naming the file.
  const missing = await load({}, `${PAGES_URL}/models/arith-prm/`);
  expect(missing.ok).toBe(false);
  expect(missing.errorName).toBe('FormatError');
  expect(missing.error).toMatch(/arith-prm\/config\.json: download failed/);
  expect(missing.error).not.toContain('\n');
  await context.setOffline(false);

  // 3. A corrupted chunk is detected (sha256 mismatch), never used, and fetched again.
  expect(await page.evaluate(() => window.modelCache.corruptChunk('model.safetensors', 3))).toBe(true);
  const repaired = await load();
  expect(repaired.checksum).toBe(first.checksum);
  expect(repaired.stats.corruptChunks).toBe(1);
  expect(repaired.stats.chunksFetched).toBe(1);

  // 4. An interrupted download resumes: only the chunks that were not stored are fetched afterwards.
  await page.evaluate(() => window.modelCache.clear());
  const cut = await load({ failAfterRangeReads: 5 });
  expect(cut.ok).toBe(false);
  expect(cut.error).toMatch(/model\.safetensors: download failed: network down/);
  const resumed = await load();
  expect(resumed.checksum).toBe(first.checksum);
  expect(cut.stats.chunksFetched).toBeGreaterThan(0);
  expect(resumed.stats.chunksFetched + cut.stats.chunksFetched).toBe(first.stats.chunksFetched);
  expect(resumed.stats.chunksFromCache).toBeGreaterThanOrEqual(5);

  // 5. A published sha256 is checked once a file is complete: the right one marks it verified, a wrong
  //    one fails the load and discards the cached copy.
  const weightsSha = createHash('sha256').update(readFileSync('models/arith-generator/model.safetensors')).digest('hex');
  await page.evaluate(() => window.modelCache.clear());
  const checked = await load({ sha256: { 'model.safetensors': weightsSha } });
  expect(checked.checksum).toBe(first.checksum);
  const after = await page.evaluate(() => window.modelCache.manifest());
  expect(after.find((m) => m.url.endsWith('model.safetensors'))?.verified).toBe(true);
  await page.evaluate(() => window.modelCache.clear());
  const wrong = await load({ sha256: { 'model.safetensors': '0'.repeat(64) } });
  expect(wrong.ok).toBe(false);
  expect(wrong.error).toMatch(/model\.safetensors: sha256 mismatch: expected 0{64}, downloaded [0-9a-f]{64}; the cached copy was discarded/);
  const discarded = await page.evaluate(() => window.modelCache.manifest());
  expect(discarded.find((m) => m.url.endsWith('model.safetensors'))).toMatchObject({ complete: false, chunks: 0 });
});
