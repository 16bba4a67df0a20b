// Model files over http(s): each read is a Range request streamed into a buffer of the exact size; a
// connection that drops mid-body is resumed from the last byte received (a few tries with back-off).
// A Hugging Face repo URL (https://huggingface.co/<org>/<name>) maps to its `resolve/main/` files.
import { FormatError } from '../../errors.ts';
import { checkRelativeName, type ByteFile, type FileSet } from './byte-file.ts';

export interface HttpOptions {
  fetch?: typeof fetch;
  /** Extra request headers, e.g. { Authorization: 'Bearer hf_...' } for gated Hugging Face repos. */
  headers?: Record<string, string>;
  /** Tries per range after the first failure (default 4). */
  retries?: number;
  /** Milliseconds before the first retry; doubles each time (default 250). */
  backoffMs?: number;
}

export interface HttpByteFile extends ByteFile {
  url: string;
  /** The validator the server gave (ETag), used to detect a file that changed between requests. */
  etag: string | null;
  /** The content sha256 when the server states it (Hugging Face's X-Linked-Etag for LFS files). */
  sha256: string | null;
}

const WEIGHT_FILE = /\.(gguf|safetensors)$/i;

/** Splits a model URL into the base the other files are relative to and the weights file it names, if any. */
export function modelUrlParts(input: string): { base: string; primary?: string } {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new FormatError(input, 'not a valid URL');
  }
  url.search = '';
  url.hash = '';
  const segments = url.pathname.split('/').filter(Boolean);
  const last = segments[segments.length - 1] ?? '';
  if (WEIGHT_FILE.test(last)) {
    return { base: url.href.slice(0, url.href.length - last.length), primary: decodeURIComponent(last) };
  }
  const hub = url.hostname === 'huggingface.co' || url.hostname === 'hf.co';
  if (hub && segments.length === 2) return { base: `${url.origin}/${segments.join('/')}/resolve/main/` };
  if (hub && segments.length >= 4 && (segments[2] === 'tree' || segments[2] === 'blob')) {
    return { base: `${url.origin}/${segments[0]}/${segments[1]}/resolve/${segments.slice(3).join('/')}/` };
  }
  return { base: url.href.endsWith('/') ? url.href : url.href + '/' };
}

const inBrowser = typeof caches !== 'undefined' && typeof indexedDB !== 'undefined';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Total size from `Content-Range: bytes a-b/total`. */
function rangeTotal(h: Headers): number | null {
  const m = /\/(\d+)\s*$/.exec(h.get('content-range') ?? '');
  return m ? Number(m[1]) : null;
}

export function httpFileSet(location: string, opts: HttpOptions = {}): FileSet {
  const { base, primary } = modelUrlParts(location);
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const retries = opts.retries ?? 4;
  const backoff = opts.backoffMs ?? 250;

  async function request(url: string, headers: Record<string, string>): Promise<Response> {
    let lastError: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(backoff * 2 ** (attempt - 1));
      try {
        // In the browser, keep multi-GB weights out of the HTTP cache (the model cache holds them).
        const all = { ...opts.headers, ...headers };
        const res = await doFetch(url, inBrowser ? { headers: all, cache: 'no-store' } : { headers: all });
        if (res.status >= 500 || res.status === 429) {
          await res.body?.cancel();
          lastError = new Error(`HTTP ${res.status}`);
          continue;
        }
        return res;
      } catch (e) {
        lastError = e;
      }
    }
    throw new FormatError(url, `download failed: ${String((lastError as Error)?.message ?? lastError).split('\n')[0]}`);
  }

  async function openUrl(url: string): Promise<HttpByteFile | null> {
    const res = await request(url, { Range: 'bytes=0-0' });
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      return null;
    }
    if (res.status !== 206 && res.status !== 200) {
      await res.body?.cancel();
      throw new FormatError(url, `HTTP ${res.status} ${res.statusText}`.trim());
    }
    const size = res.status === 206 ? rangeTotal(res.headers) : Number(res.headers.get('content-length'));
    await res.body?.cancel();
    if (size === null || !Number.isSafeInteger(size) || size < 0) throw new FormatError(url, 'the server did not state the file size');
    const etag = res.headers.get('etag');
    const linked = (res.headers.get('x-linked-etag') ?? '').replace(/"/g, '');
    const rangesOk = res.status === 206;
    const file: HttpByteFile = {
      name: url,
      url,
      size,
      etag,
      sha256: /^[0-9a-f]{64}$/.test(linked) ? linked : null,
      read: rangesOk ? (offset, length) => readRange(url, offset, length, etag) : forwardReader(url),
    };
    return file;
  }

  /**
   * For servers without Range support: one forward-only stream per file, restarted only when a read goes
   * backwards or the connection drops. Loaders read headers, then tensors in file order, so a whole load
   * downloads the file about once instead of once per read.
   */
  function forwardReader(url: string): (offset: number, length: number) => Promise<Uint8Array> {
    let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
    let pos = 0; // file offset of pending[0]
    let pending: Uint8Array = new Uint8Array(0);
    let failures = 0;
    const restart = async () => {
      reader?.cancel().catch(() => {});
      const res = await request(url, {});
      if (res.status !== 200 || !res.body) {
        await res.body?.cancel();
        throw new FormatError(url, `HTTP ${res.status} re-reading the file`);
      }
      reader = res.body.getReader();
      pos = 0;
      pending = new Uint8Array(0);
    };
    return async (offset, length) => {
      if (!reader || offset < pos) await restart();
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        if (pending.length === 0) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader!.read();
          } catch {
            if (++failures > retries) throw new FormatError(url, `download interrupted at byte ${pos} after ${failures} tries`);
            await sleep(backoff * 2 ** (failures - 1));
            await restart();
            continue;
          }
          if (chunk.done) throw new FormatError(url, `truncated: the server sent ${pos} of ${offset + length} bytes`);
          pending = chunk.value;
        }
        const skip = Math.min(pending.length, offset + got - pos);
        if (skip > 0) {
          pending = pending.subarray(skip);
          pos += skip;
          continue;
        }
        const take = Math.min(pending.length, length - got);
        out.set(pending.subarray(0, take), got);
        pending = pending.subarray(take);
        pos += take;
        got += take;
      }
      return out;
    };
  }

  /** Streams bytes [offset, offset + length) into one buffer, resuming after dropped connections. */
  async function readRange(url: string, offset: number, length: number, etag: string | null): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let got = 0;
    let failures = 0;
    while (got < length) {
      const start = offset + got;
      const headers: Record<string, string> = { Range: `bytes=${start}-${offset + length - 1}` };
      if (etag && !etag.startsWith('W/')) headers['If-Range'] = etag;
      const res = await request(url, headers);
      if (res.status === 206) {
        const m = /bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
        if (!m || Number(m[1]) !== start) {
          await res.body?.cancel();
          throw new FormatError(url, 'the server answered a different byte range');
        }
      } else if (res.status === 200) {
        // If-Range failed: the file is no longer the one whose earlier bytes were read.
        await res.body?.cancel();
        throw new FormatError(url, 'the file changed on the server during the download');
      } else {
        await res.body?.cancel();
        throw new FormatError(url, `HTTP ${res.status} reading bytes ${start}..${offset + length}`);
      }
      if (!res.body) throw new FormatError(url, 'empty response body');
      const reader = res.body.getReader();
      try {
        while (got < length) {
          const { done, value } = await reader.read();
          if (done) break;
          const take = Math.min(value.length, length - got);
          out.set(value.subarray(0, take), got);
          got += take;
        }
      } catch {
        // Dropped mid-body: fall through and resume from `got`.
      } finally {
        reader.cancel().catch(() => {});
      }
      if (got < length && ++failures > retries)
        throw new FormatError(url, `download interrupted at byte ${offset + got} of ${offset + length} after ${failures} tries`);
      if (got < length) await sleep(backoff * 2 ** (failures - 1));
    }
    return out;
  }

  return {
    name: location,
    remote: true,
    primary,
    async open(file) {
      checkRelativeName(location, file);
      return openUrl(base + file.split('/').map(encodeURIComponent).join('/'));
    },
  };
}
