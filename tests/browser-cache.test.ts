// The browser model cache (Cache API chunks + an IndexedDB manifest) in Node, over in-memory stand-ins for
// both: a 404 is remembered for offline reloads, but never stops an online load from finding the file
// later, and a fetch that fails outright leaves nothing behind.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ByteFile, FileSet } from '../src/model/sources/byte-file.ts';

// idb-keyval over a Map (the module is replaced before browser-cache.ts imports it).
const manifest = new Map<string, unknown>();
vi.mock('idb-keyval', () => ({
  get: async (k: string) => structuredClone(manifest.get(k)),
  set: async (k: string, v: unknown) => void manifest.set(k, structuredClone(v)),
  del: async (k: string) => void manifest.delete(k),
  keys: async () => [...manifest.keys()],
}));

/** The Cache API's few calls the model cache makes, over a Map of URL -> bytes. */
function memoryCaches() {
  const stored = new Map<string, Uint8Array>();
  const cache = {
    match: async (url: string) => (stored.has(url) ? new Response(stored.get(url)!.slice() as Uint8Array<ArrayBuffer>) : undefined),
    put: async (url: string, res: Response) => void stored.set(url, new Uint8Array(await res.arrayBuffer())),
    delete: async (url: string) => stored.delete(url),
  };
  return { open: async () => cache, delete: async () => stored.clear() };
}

function byteFile(name: string, bytes: Uint8Array): ByteFile {
  return { name, size: bytes.length, read: async (o, n) => bytes.slice(o, o + n) };
}

/** A server whose answer per file the test sets: bytes, 404 (null) or no network (throws). */
function server() {
  const files = new Map<string, Uint8Array | null | 'offline'>();
  const opens: string[] = [];
  const set: FileSet = {
    name: 'https://models.test/m/',
    remote: true,
    async open(file) {
      opens.push(file);
      const f = files.get(file) ?? null;
      if (f === 'offline') throw new TypeError('Failed to fetch');
      return f === null ? null : byteFile(`https://models.test/m/${file}`, f);
    },
  };
  return { files, opens, set };
}

const { cachedFileSet } = await import('../src/model/sources/browser-cache.ts');
let online = true;

beforeEach(() => {
  manifest.clear();
  online = true;
  vi.stubGlobal('caches', memoryCaches());
  vi.stubGlobal('navigator', {
    get onLine() {
      return online;
    },
  });
});
afterEach(() => vi.unstubAllGlobals());

describe('browser cache and missing files', () => {
  it('a 404 answered once does not hide the file once the server has it', async () => {
    const s = server();
    const cached = cachedFileSet(s.set, { chunkBytes: 4 });
    expect(await cached.open('generation_config.json')).toBeNull();
    s.files.set('generation_config.json', new TextEncoder().encode('{"eos_token_id": 2}'));
    const file = await cached.open('generation_config.json');
    expect(file).not.toBeNull();
    expect(new TextDecoder().decode(await file!.read(0, file!.size))).toBe('{"eos_token_id": 2}');
    // And it is cached like any other file: the next open reads no network.
    s.opens.length = 0;
    const again = await cachedFileSet(s.set, { chunkBytes: 4 }).open('generation_config.json');
    expect(new TextDecoder().decode(await again!.read(0, again!.size))).toBe('{"eos_token_id": 2}');
    expect(s.opens).toEqual([]);
  });

  it('offline, a remembered 404 answers without the network', async () => {
    const s = server();
    const cached = cachedFileSet(s.set);
    expect(await cached.open('tokenizer_config.json')).toBeNull();
    online = false;
    s.opens.length = 0;
    expect(await cached.open('tokenizer_config.json')).toBeNull();
    expect(s.opens).toEqual([]);
  });

  it('a remembered 404 when the network fails (though the browser says online) still answers "absent"', async () => {
    const s = server();
    const cached = cachedFileSet(s.set);
    expect(await cached.open('tokenizer_config.json')).toBeNull();
    s.files.set('tokenizer_config.json', 'offline');
    expect(await cached.open('tokenizer_config.json')).toBeNull();
  });

  it('a fetch that fails outright is an error, and leaves nothing in the manifest', async () => {
    const s = server();
    s.files.set('config.json', 'offline');
    const cached = cachedFileSet(s.set);
    await expect(cached.open('config.json')).rejects.toThrow(/Failed to fetch/);
    expect(manifest.size).toBe(0);
    s.files.set('config.json', new TextEncoder().encode('{}'));
    expect(await cached.open('config.json')).not.toBeNull();
  });
});
