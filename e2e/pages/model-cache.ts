// Drives the browser model cache for e2e/model-cache.spec.ts: loads a model from a URL through
// openModel (Cache API chunks + idb-keyval manifest), and can clear the cache, corrupt a cached chunk
// or cut the download after a few chunks. Results are plain JSON for page.evaluate.
import { openModel, type OpenedModel } from '../../src/model/open-model.ts';
import { CACHE_NAME, cacheStats, cachedModelFiles, clearModelCache, type CacheStats } from '../../src/model/sources/browser-cache.ts';

export interface CacheLoadResult {
  ok: boolean;
  error?: string;
  errorName?: string;
  tensors?: number;
  /** FNV-1a over every tensor's f32 bytes, in stream order. */
  checksum?: string;
  tokens?: number[];
  stats: CacheStats;
}

export interface ModelCachePage {
  ready: boolean;
  load(url: string, opts?: { chunkBytes?: number; failAfterRangeReads?: number; sha256?: Record<string, string> }): Promise<CacheLoadResult>;
  clear(): Promise<void>;
  /** Overwrites cached chunk `index` of `file` with garbage of the same length. */
  corruptChunk(file: string, index: number): Promise<boolean>;
  manifest(): Promise<Array<{ url: string; size: number; complete: boolean; chunks: number; verified: boolean }>>;
  /** Fetches the files whole and opens them as user-picked Files. */
  loadPicked(urls: string[]): Promise<CacheLoadResult>;
  /** Opens bytes (base64) as a nameless Blob, as a drag-and-dropped download would be. */
  loadBlob(base64: string): Promise<CacheLoadResult>;
  /** Copies the files into an origin-private folder and opens its FileSystemDirectoryHandle. */
  loadDirectoryHandle(urls: string[]): Promise<CacheLoadResult>;
  /** Stores bytes (base64) as an origin-private file and opens its FileSystemFileHandle. */
  loadFileHandle(base64: string, name: string): Promise<CacheLoadResult>;
}

declare global {
  interface Window {
    modelCache: ModelCachePage;
  }
}

const log = document.getElementById('log')!;

function fnv(h: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619) >>> 0;
  return h;
}

async function summarize(model: OpenedModel): Promise<Omit<CacheLoadResult, 'stats'>> {
  let h = 2166136261;
  let tensors = 0;
  for await (const t of model.source.tensors()) {
    h = fnv(h, new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength));
    tensors++;
  }
  return { ok: true, tensors, checksum: h.toString(16), tokens: model.tokenizer?.encode('12+7=19') ?? [] };
}

async function openAndSummarize(picked: Blob | Blob[] | FileSystemDirectoryHandle | FileSystemFileHandle): Promise<CacheLoadResult> {
  try {
    return { ...(await summarize(await openModel(picked))), stats: { ...cacheStats } };
  } catch (e) {
    return { ok: false, error: (e as Error).message, errorName: (e as Error).name, stats: { ...cacheStats } };
  }
}

window.modelCache = {
  ready: true,
  async load(url, opts = {}) {
    Object.assign(cacheStats, { chunksFromCache: 0, chunksFetched: 0, corruptChunks: 0, storeFailures: 0 });
    let rangeReads = 0;
    // A network that goes down after a few weight reads: an interrupted download.
    const flaky: typeof fetch = async (input, init) => {
      const range = new Headers(init?.headers).get('range');
      if (String(input).endsWith('.safetensors') && range && range !== 'bytes=0-0' && opts.failAfterRangeReads !== undefined) {
        if (rangeReads++ >= opts.failAfterRangeReads) throw new TypeError('network down');
      }
      return fetch(input, init);
    };
    try {
      const model = await openModel(url, { cache: true, cacheChunkBytes: opts.chunkBytes, fetch: flaky, sha256: opts.sha256 });
      const summary = await summarize(model);
      log.textContent = `loaded ${summary.tensors} tensors from ${url}`;
      return { ...summary, stats: { ...cacheStats } };
    } catch (e) {
      log.textContent = `error: ${(e as Error).message}`;
      return { ok: false, error: (e as Error).message, errorName: (e as Error).name, stats: { ...cacheStats } };
    }
  },
  async loadPicked(urls) {
    const blobs = await Promise.all(urls.map(async (u) => (await fetch(u)).blob()));
    return openAndSummarize(blobs.map((b, i) => new File([b], urls[i].split('/').pop()!)));
  },
  async loadBlob(base64) {
    return openAndSummarize(new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))]));
  },
  async loadDirectoryHandle(urls) {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry('picked-model', { recursive: true }).catch(() => {});
    const dir = await root.getDirectoryHandle('picked-model', { create: true });
    for (const u of urls) {
      const writable = await (await dir.getFileHandle(u.split('/').pop()!, { create: true })).createWritable();
      await writable.write(await (await fetch(u)).blob());
      await writable.close();
    }
    return openAndSummarize(dir);
  },
  async loadFileHandle(base64, name) {
    const root = await navigator.storage.getDirectory();
    const handle = await root.getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    await writable.write(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    await writable.close();
    return openAndSummarize(handle);
  },
  clear: () => clearModelCache(),
  async corruptChunk(file, index) {
    const entry = (await cachedModelFiles()).find((e) => e.url.endsWith(file));
    if (!entry) return false;
    const key = new URL(entry.url);
    key.searchParams.set('fasttts-chunk', String(index));
    const cache = await caches.open(CACHE_NAME);
    const res = await cache.match(key.href);
    if (!res) return false;
    const bytes = new Uint8Array(await res.arrayBuffer());
    for (let i = 0; i < bytes.length; i += 97) bytes[i] ^= 0x5a;
    await cache.put(key.href, new Response(bytes));
    return true;
  },
  async manifest() {
    return (await cachedModelFiles()).map((e) => ({
      url: e.url,
      size: e.size,
      complete: e.complete,
      chunks: Object.keys(e.chunks).length,
      verified: e.verified === true,
    }));
  },
};
log.textContent = 'ready';
