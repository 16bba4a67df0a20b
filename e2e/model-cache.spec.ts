// The browser model cache: a model downloaded from a localhost URL is kept in the Cache API (chunks) with
// an IndexedDB manifest; after a page reload with the browser offline it loads again from the cache with
// identical tensors; a corrupted chunk is detected and fetched again; an interrupted download resumes.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { openModel } from '../src/model/open-model.ts';
import { tinyConfigJson } from '../src/model/random-model.ts';
import { writeFixtureModel } from '../tools/make-fixture-model.ts';
import { PAGES_URL } from './browser.ts';
import type { CacheLoadResult } from './pages/model-cache.ts';

const MODEL_URL = `${PAGES_URL}/models/arith-generator/`;
const CHUNK = 256 * 1024;

/**
 * Opens the test page and waits until it is ready and stays put: on a cold start, Vite's dependency
 * optimizer can reload open pages once, which would destroy an evaluation in flight.
 */
async function openPage(page: Page): Promise<void> {
  let navigations = 0;
  page.on('framenavigated', () => navigations++);
  await page.goto(`${PAGES_URL}/e2e/pages/model-cache.html`);
  for (let settled = false; !settled; ) {
    const before = navigations;
    await page.waitForFunction(() => window.modelCache?.ready === true);
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(1000);
    settled = navigations === before;
  }
}

/** The page's checksum (FNV-1a over every tensor's f32 bytes, in stream order), computed in Node. */
async function nodeChecksum(location: string): Promise<string> {
  let h = 2166136261;
  for await (const t of (await openModel(location)).source.tensors()) {
    const b = new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength);
    for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 16777619) >>> 0;
  }
  return h.toString(16);
}

test('user-picked files: a Hugging Face folder as Files and as a directory handle, a GGUF as a Blob and a file handle', async ({ page }) => {
  // A Q4_K GGUF fixture, outside the dev server's root (new files there can make Vite reload pages).
  const dir = await mkdtemp(join(tmpdir(), 'fasttts-e2e-gguf-'));
  await writeFixtureModel(dir, tinyConfigJson({ hidden_size: 256, intermediate_size: 512, vocab_size: 320 }), { format: 'gguf', ggufType: 'Q4_K', seed: 2 });
  await openPage(page);

  const names = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
  const folder = await page.evaluate(
    (urls) => window.modelCache.loadPicked(urls),
    names.map((n) => `${PAGES_URL}/models/arith-generator/${n}`),
  );
  expect(folder.error).toBeUndefined();
  expect(folder.checksum).toBe(await nodeChecksum('models/arith-generator'));

  const handleDir = await page.evaluate(
    (urls) => window.modelCache.loadDirectoryHandle(urls),
    names.map((n) => `${PAGES_URL}/models/arith-generator/${n}`),
  );
  expect(handleDir.error).toBeUndefined();
  expect(handleDir.checksum).toBe(folder.checksum);

  const base64 = readFileSync(join(dir, 'model.gguf')).toString('base64');
  const ggufChecksum = await nodeChecksum(`${dir}/model.gguf`);
  const blob = await page.evaluate((b) => window.modelCache.loadBlob(b), base64);
  expect(blob.error).toBeUndefined();
  expect(blob.checksum).toBe(ggufChecksum);
  expect(blob.tokens!.length).toBeGreaterThan(0); // the tokenizer came from the GGUF metadata
  const handle = await page.evaluate(([b, n]) => window.modelCache.loadFileHandle(b, n), [base64, 'picked.gguf'] as const);
  expect(handle.error).toBeUndefined();
  expect(handle.checksum).toBe(ggufChecksum);
  await rm(dir, { recursive: true, force: true });
});

test('model cache: download, offline reload, corruption, resume', async ({ page, context }) => {
  const load = (opts: { chunkBytes?: number; failAfterRangeReads?: number; sha256?: Record<string, string> } = {}, url = MODEL_URL): Promise<CacheLoadResult> =>
    page.evaluate(([u, o]) => window.modelCache.load(u, o), [url, { chunkBytes: CHUNK, ...opts }] as const);

  await openPage(page);
  await page.evaluate(() => window.modelCache.clear());

  // 1. First load: everything is downloaded (in chunks) and cached.
  const first = await load();
  expect(first.error).toBeUndefined();
  expect(first.tensors).toBe(4 * 12 + 2);
  expect(first.stats.chunksFromCache).toBe(0);
  const weightBytes = statSync('models/arith-generator/model.safetensors').size;
  expect(first.stats.chunksFetched).toBeGreaterThan(weightBytes / CHUNK);
  const manifest = await page.evaluate(() => window.modelCache.manifest());
  expect(manifest.every((m) => m.complete)).toBe(true);
  expect(manifest.find((m) => m.url.endsWith('model.safetensors'))?.size).toBe(weightBytes);

  // A relative location resolves against the page's origin (and is the same cached URL).
  const relative = await load({}, '/models/arith-generator/');
  expect(relative.checksum).toBe(first.checksum);
  expect(relative.stats.chunksFetched).toBe(0);

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
  // Back online, Vite's client (its websocket dropped while offline) reloads the page when it reconnects:
  // open a fresh page instead. The cache lives in Cache Storage and IndexedDB, not in the page.
  await openPage(page);

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
