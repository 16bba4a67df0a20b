// Loading over http(s) from a local node:http server that serves fixture models: Range requests,
// resuming after a connection dropped mid-body, servers without Range support, missing files, and the
// Hugging Face URL layouts. The same tensors must come out as from the local path.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../src/errors.ts';
import { openModel } from '../src/model/open-model.ts';
import { modelUrlParts } from '../src/model/sources/http.ts';
import type { TensorRecord } from '../src/model/source.ts';
import { tinyConfigJson } from '../src/model/random-model.ts';
import { writeFixtureModel } from '../tools/make-fixture-model.ts';

interface Served {
  path: string;
  range: string | undefined;
  status: number;
}
let root: string;
let server: Server;
let base: string;
const log: Served[] = [];
const behaviour = { noRange: false, dropOnceAfter: 0 as number, dropped: new Set<string>() };

/** Serves files under `root` at /<dir>/<file> (and /<dir>/resolve/main/<file>), with single-range support. */
function serve(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = join(root, decodeURIComponent(url.pathname).replace('/resolve/main/', '/'));
  stat(path)
    .then((s) => {
      if (!s.isFile()) throw new Error('not a file');
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      let start = 0,
        end = s.size - 1,
        status = 200;
      if (m && !behaviour.noRange) {
        start = Number(m[1]);
        end = m[2] ? Math.min(Number(m[2]), s.size - 1) : s.size - 1;
        status = 206;
        res.setHeader('content-range', `bytes ${start}-${end}/${s.size}`);
      }
      log.push({ path: url.pathname, range: req.headers.range, status });
      res.writeHead(status, { 'content-length': end - start + 1, 'accept-ranges': behaviour.noRange ? 'none' : 'bytes', etag: `"${s.size}-${s.mtimeMs}"` });
      const length = end - start + 1;
      const probe = req.headers.range === 'bytes=0-0';
      const drop = behaviour.dropOnceAfter > 0 && !probe && length > behaviour.dropOnceAfter && !behaviour.dropped.has(url.pathname);
      if (drop) {
        // Send part of the body, then cut the connection.
        behaviour.dropped.add(url.pathname);
        const stream = createReadStream(path, { start, end: start + behaviour.dropOnceAfter - 1 });
        stream.on('data', (c) => res.write(c));
        stream.on('end', () => setTimeout(() => res.destroy(), 5));
        return;
      }
      createReadStream(path, { start, end }).pipe(res);
    })
    .catch(() => {
      log.push({ path: url.pathname, range: req.headers.range, status: 404 });
      res.writeHead(404).end();
    });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fasttts-http-'));
  const config = tinyConfigJson({ vocab_size: 320, hidden_size: 256, intermediate_size: 512 });
  await writeFixtureModel(join(root, 'org/sharded'), config, { dtype: 'bf16', shards: 2, seed: 3 });
  await writeFixtureModel(join(root, 'org/gguf'), config, { format: 'gguf', ggufType: 'Q4_K', seed: 3 });
  server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(root, { recursive: true, force: true });
});

async function tensors(iter: AsyncIterable<TensorRecord>): Promise<Map<string, Float32Array>> {
  const m = new Map<string, Float32Array>();
  for await (const t of iter) m.set(t.name, t.values);
  return m;
}

async function expectSameAsLocal(url: string, localPath: string): Promise<void> {
  const remote = await openModel(url);
  const local = await openModel(localPath);
  expect(remote.config).toEqual(local.config);
  expect(remote.tokenizer?.encode('1+1=2')).toEqual(local.tokenizer?.encode('1+1=2'));
  const a = await tensors(remote.source.tensors());
  const b = await tensors(local.source.tensors());
  expect([...a.keys()]).toEqual([...b.keys()]);
  // Bitwise equal (compared as bytes: toEqual on large typed arrays is slow).
  for (const [k, v] of a)
    expect(
      Buffer.compare(Buffer.from(v.buffer, v.byteOffset, v.byteLength), Buffer.from(b.get(k)!.buffer, b.get(k)!.byteOffset, b.get(k)!.byteLength)),
      k,
    ).toBe(0);
}

describe('http(s) model source', () => {
  it('loads a sharded safetensors model from a directory URL with Range requests', async () => {
    log.length = 0;
    await expectSameAsLocal(`${base}/org/sharded/`, join(root, 'org/sharded'));
    expect(log.some((l) => l.status === 206 && l.path.endsWith('.safetensors') && l.range !== 'bytes=0-0')).toBe(true);
    expect(log.filter((l) => l.path.endsWith('model.safetensors.index.json')).length).toBeGreaterThan(0);
  });

  it('loads a GGUF file from a Hugging Face resolve/main URL', async () => {
    await expectSameAsLocal(`${base}/org/gguf/resolve/main/model.gguf`, join(root, 'org/gguf/model.gguf'));
  });

  it('resumes a download whose connection dropped mid-body', async () => {
    log.length = 0;
    behaviour.dropOnceAfter = 4096;
    behaviour.dropped.clear();
    try {
      await expectSameAsLocal(`${base}/org/gguf/model.gguf`, join(root, 'org/gguf/model.gguf'));
    } finally {
      behaviour.dropOnceAfter = 0;
    }
    // After the drop, the next request for the same file starts exactly where the data stopped.
    const gguf = log.filter((l) => l.path === '/org/gguf/model.gguf' && l.range && l.range !== 'bytes=0-0');
    const first = /bytes=(\d+)-(\d+)/.exec(gguf[0].range!)!;
    const resumed = /bytes=(\d+)-(\d+)/.exec(gguf[1].range!)!;
    expect(Number(resumed[1])).toBe(Number(first[1]) + 4096);
    expect(resumed[2]).toBe(first[2]);
  });

  it('works with a server that ignores Range, downloading each file about once', async () => {
    behaviour.noRange = true;
    log.length = 0;
    try {
      await expectSameAsLocal(`${base}/org/sharded`, join(root, 'org/sharded'));
      await expectSameAsLocal(`${base}/org/gguf/model.gguf`, join(root, 'org/gguf/model.gguf'));
    } finally {
      behaviour.noRange = false;
    }
    // Safetensors: one request for the size, one forward stream for header and tensors. GGUF: the header
    // reader's 1 MiB window swallows this small file whole, so the tensors need one more pass.
    expect(log.filter((l) => l.path === '/org/sharded/model-00001-of-00002.safetensors').length).toBe(2);
    expect(log.filter((l) => l.path === '/org/gguf/model.gguf').length).toBe(3);
  });

  it('a server without Range that drops the connection: the stream restarts and the load completes', async () => {
    behaviour.noRange = true;
    behaviour.dropOnceAfter = 4096;
    behaviour.dropped.clear();
    log.length = 0;
    try {
      await expectSameAsLocal(`${base}/org/gguf/model.gguf`, join(root, 'org/gguf/model.gguf'));
    } finally {
      behaviour.noRange = false;
      behaviour.dropOnceAfter = 0;
    }
    expect(behaviour.dropped.has('/org/gguf/model.gguf')).toBe(true);
    expect(log.filter((l) => l.path === '/org/gguf/model.gguf').length).toBeGreaterThanOrEqual(3); // probe, dropped stream, restart
  });

  it('missing files and servers give one FormatError naming the URL', async () => {
    const err = await openModel(`${base}/org/nothing/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect((err as Error).message).toBe(`${base}/org/nothing/: config.json not found`);
    const down = await openModel('http://127.0.0.1:1/m/', { fetch: (() => Promise.reject(new TypeError('fetch failed'))) as typeof fetch }).catch(
      (e: unknown) => e,
    );
    expect(down).toBeInstanceOf(FormatError);
    expect((down as Error).message).toMatch(/^http:\/\/127.0.0.1:1\/m\/config.json: download failed: fetch failed$/);
  }, 20_000);

  it('sends the given request headers (e.g. a Hugging Face token)', async () => {
    const seen: string[] = [];
    const spy = ((input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get('authorization') ?? '');
      return fetch(input, init);
    }) as typeof fetch;
    await openModel(`${base}/org/sharded/`, { fetch: spy, headers: { Authorization: 'Bearer t0k' } });
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.every((h) => h === 'Bearer t0k')).toBe(true);
  });

  it('maps Hugging Face URLs to resolve/main', () => {
    expect(modelUrlParts('https://huggingface.co/Qwen/Qwen2.5-Math-1.5B-Instruct')).toEqual({
      base: 'https://huggingface.co/Qwen/Qwen2.5-Math-1.5B-Instruct/resolve/main/',
    });
    expect(modelUrlParts('https://huggingface.co/Qwen/Qwen2.5-Math-1.5B-Instruct/tree/main')).toEqual({
      base: 'https://huggingface.co/Qwen/Qwen2.5-Math-1.5B-Instruct/resolve/main/',
    });
    expect(modelUrlParts('https://huggingface.co/org/m-GGUF/resolve/main/m-q4_k_m.gguf?download=true')).toEqual({
      base: 'https://huggingface.co/org/m-GGUF/resolve/main/',
      primary: 'm-q4_k_m.gguf',
    });
    expect(modelUrlParts('http://localhost:8080/models/tiny')).toEqual({ base: 'http://localhost:8080/models/tiny/' });
    expect(() => modelUrlParts('http://')).toThrow(FormatError);
  });
});
