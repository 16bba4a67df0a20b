// Browser cache for downloaded model files: each file is kept in fixed-size chunks in the Cache API,
// with a manifest per file in IndexedDB (idb-keyval) recording its size, ETag and each stored chunk's
// sha256. Reads fetch only missing chunks (so an interrupted download resumes where it stopped), every
// cached chunk is checked against its size and digest before use (a corrupted one is dropped and
// fetched again), and a complete file is served with no network at all (offline reloads).
import { del, get, set } from 'idb-keyval';
import { FormatError } from '../../errors.ts';
import { Sha256 } from '../sha256.ts';
import type { ByteFile, FileSet } from './byte-file.ts';
import type { HttpByteFile } from './http.ts';

export const CACHE_NAME = 'fasttts-models-v1';
export const CHUNK_BYTES = 8 << 20;
const KEY_PREFIX = 'fasttts-model:';

export interface ManifestEntry {
  /** The file's URL; the chunks live under it in the Cache API. */
  url: string;
  /** The server answered 404: remembered so that an offline reload need not ask (online it asks again). */
  absent?: boolean;
  size: number;
  etag: string | null;
  chunkBytes: number;
  /** sha256 (hex) of each stored chunk, by chunk index. */
  chunks: Record<number, string>;
  complete: boolean;
  /** The published sha256 of the whole file, when known; checked once the file is complete. */
  sha256?: string;
  verified?: boolean;
}

export interface CacheStats {
  chunksFromCache: number;
  chunksFetched: number;
  corruptChunks: number;
  /** Chunks that could not be stored (storage full): used once, fetched again next time. */
  storeFailures: number;
}

/** Counters for tests and the UI (how much came from the cache, how much was refetched). */
export const cacheStats: CacheStats = { chunksFromCache: 0, chunksFetched: 0, corruptChunks: 0, storeFailures: 0 };

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function chunkRequest(url: string, index: number): string {
  const u = new URL(url);
  u.searchParams.set('fasttts-chunk', String(index));
  return u.href;
}

export interface CachedFileSetOptions {
  /** Bytes per cached chunk (default 8 MiB); tests use small ones. */
  chunkBytes?: number;
  /** Known sha256 (hex) of files by name, e.g. from a model catalogue; the server's X-Linked-Etag is used too. */
  sha256?: Record<string, string>;
}

export function cachedFileSet(inner: FileSet, opts: CachedFileSetOptions = {}): FileSet {
  const chunkBytes = opts.chunkBytes ?? CHUNK_BYTES;
  void navigator.storage?.persist?.().catch(() => false);
  return {
    name: inner.name,
    remote: true,
    primary: inner.primary,
    async open(file) {
      const key = `${KEY_PREFIX}${inner.name}::${file}`;
      let entry: ManifestEntry | null;
      try {
        entry = (await get<ManifestEntry>(key)) ?? null;
      } catch {
        return inner.open(file); // no IndexedDB here (e.g. a private window): read without caching
      }
      const known = opts.sha256?.[file]?.toLowerCase();
      // A 404 is remembered for offline reloads only: online the server is asked again, since the file
      // may exist by now (or the 404 came from a server or proxy failing at the time).
      const absent = entry?.absent === true;
      if (absent && navigator.onLine === false) return null;
      if (absent) entry = null;
      if (entry && known && entry.sha256 !== known) Object.assign(entry, { sha256: known, verified: false });
      if (entry?.complete) return cachedFile(key, entry, () => inner.open(file), chunkBytes).verified();
      let live: ByteFile | null;
      try {
        live = await inner.open(file);
      } catch (e) {
        if (absent) return null; // offline after all: the remembered answer
        if (entry) return cachedFile(key, entry, () => inner.open(file), chunkBytes); // offline with a partial file
        throw e;
      }
      if (!live) {
        await set(key, { url: String(file), absent: true, size: 0, etag: null, chunkBytes, chunks: {}, complete: false } satisfies ManifestEntry);
        return null;
      }
      const etag = (live as Partial<HttpByteFile>).etag ?? null;
      const url = (live as Partial<HttpByteFile>).url ?? live.name;
      let fresh = entry;
      if (!fresh || fresh.size !== live.size || fresh.etag !== etag || fresh.chunkBytes !== chunkBytes || fresh.url !== url) {
        if (fresh) await dropChunks(fresh);
        fresh = { url, size: live.size, etag, chunkBytes, chunks: {}, complete: live.size === 0 };
        await set(key, fresh);
      }
      fresh.sha256 = known ?? fresh.sha256 ?? (live as Partial<HttpByteFile>).sha256 ?? undefined;
      const opened = live;
      return cachedFile(key, fresh, async () => opened, chunkBytes).verified();
    },
  };
}

async function dropChunks(entry: ManifestEntry): Promise<void> {
  const cache = await caches.open(CACHE_NAME);
  await Promise.all(Object.keys(entry.chunks).map((i) => cache.delete(chunkRequest(entry.url, Number(i)))));
}

function cachedFile(
  key: string,
  entry: ManifestEntry,
  openLive: () => Promise<ByteFile | null>,
  chunkBytes: number,
): ByteFile & { verified(): Promise<ByteFile> } {
  let live: Promise<ByteFile | null> | null = null;
  const chunkCount = Math.ceil(entry.size / chunkBytes);
  // The last chunk used, kept verified in memory: consecutive small tensors share a chunk.
  let last: { index: number; bytes: Uint8Array } | null = null;

  async function fetchChunk(cache: Cache, index: number, length: number): Promise<Uint8Array> {
    live ??= openLive();
    const file = await live.catch(() => null);
    if (!file) throw new FormatError(entry.url, `chunk ${index} is not cached and the file cannot be fetched (offline?)`);
    if (file.size !== entry.size) throw new FormatError(entry.url, `the file changed size on the server (${entry.size} -> ${file.size})`);
    const bytes = await file.read(index * chunkBytes, length);
    try {
      await cache.put(
        chunkRequest(entry.url, index),
        new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } }),
      );
    } catch {
      // Storage full (QuotaExceededError) or unavailable: use the bytes, leave the chunk uncached.
      cacheStats.storeFailures++;
      cacheStats.chunksFetched++;
      return bytes;
    }
    entry.chunks[index] = await sha256Hex(bytes);
    entry.complete = Object.keys(entry.chunks).length === chunkCount;
    await set(key, entry);
    cacheStats.chunksFetched++;
    if (entry.complete) await checkWholeFile(cache);
    return bytes;
  }

  /** Hashes the complete file chunk by chunk against its published sha256; a mismatch discards it. */
  async function checkWholeFile(cache: Cache): Promise<void> {
    if (!entry.sha256 || entry.verified || !entry.complete) return;
    const hash = new Sha256();
    for (let i = 0; i < chunkCount; i++) {
      const res = await cache.match(chunkRequest(entry.url, i));
      if (!res) return; // a chunk vanished (storage pressure): it is refetched and checked on a later read
      hash.update(new Uint8Array(await res.arrayBuffer()));
    }
    const got = hash.hex();
    if (got !== entry.sha256) {
      await dropChunks(entry);
      Object.assign(entry, { chunks: {}, complete: false, verified: false });
      last = null;
      await set(key, entry);
      throw new FormatError(entry.url, `sha256 mismatch: expected ${entry.sha256}, downloaded ${got}; the cached copy was discarded`);
    }
    entry.verified = true;
    await set(key, entry);
  }

  async function chunk(index: number): Promise<Uint8Array> {
    if (last?.index === index) return last.bytes;
    const bytes = await loadChunk(index);
    last = { index, bytes };
    return bytes;
  }

  async function loadChunk(index: number): Promise<Uint8Array> {
    const length = Math.min(chunkBytes, entry.size - index * chunkBytes);
    const cache = await caches.open(CACHE_NAME);
    const digest = entry.chunks[index];
    if (digest) {
      const res = await cache.match(chunkRequest(entry.url, index));
      if (res) {
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (bytes.length === length && (await sha256Hex(bytes)) === digest) {
          cacheStats.chunksFromCache++;
          return bytes;
        }
      }
      // Missing or corrupted: never use it, fetch it again.
      cacheStats.corruptChunks++;
      await cache.delete(chunkRequest(entry.url, index));
      delete entry.chunks[index];
      entry.complete = false;
      await set(key, entry);
    }
    return fetchChunk(cache, index, length);
  }

  return {
    name: entry.url,
    size: entry.size,
    async verified() {
      await checkWholeFile(await caches.open(CACHE_NAME));
      return this;
    },
    async read(offset, length) {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const pos = offset + done;
        const index = Math.floor(pos / chunkBytes);
        const bytes = await chunk(index);
        const from = pos - index * chunkBytes;
        const take = Math.min(bytes.length - from, length - done);
        out.set(bytes.subarray(from, from + take), done);
        done += take;
      }
      return out;
    },
  };
}

/** Removes every cached model file (chunks and manifest entries). */
export async function clearModelCache(): Promise<void> {
  await caches.delete(CACHE_NAME);
  const { keys } = await import('idb-keyval');
  for (const k of await keys()) if (typeof k === 'string' && k.startsWith(KEY_PREFIX)) await del(k);
}

/** The manifest entries of the cached files (for a "downloaded models" list). */
export async function cachedModelFiles(): Promise<ManifestEntry[]> {
  const { keys } = await import('idb-keyval');
  const out: ManifestEntry[] = [];
  for (const k of await keys()) {
    if (typeof k !== 'string' || !k.startsWith(KEY_PREFIX)) continue;
    const e = await get<ManifestEntry>(k);
    if (e && !e.absent) out.push(e);
  }
  return out;
}
