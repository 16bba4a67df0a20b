// wllama (llama.cpp compiled to WebAssembly) on one GGUF file with ONE thread, inside headless
// Chromium. Serves tools/compare/wllama.html, the installed @wllama/wllama package and the model from a
// local http server, drives the page with playwright-core, and prints one JSON line like llamacpp.mjs.
//
//   node tools/compare/wllama.mjs <model.gguf>        (CHROMIUM=/path/to/chromium to override)
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { DECODE_TOKENS, PREFILL_LENGTHS, REPS, FLASH_ATTENTION, cpuModel, fixedText, log, median, packageVersion, resolveOutside, round } from './common.mjs';

const modelPath = process.argv[2];
if (!modelPath) {
  console.error('usage: node tools/compare/wllama.mjs <model.gguf>');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
// .../node_modules/@wllama/wllama/esm/index.js -> the package root
const wllamaRoot = resolve(dirname(resolveOutside('@wllama/wllama')), '..');
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json' };

// Deliberately no Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy: without cross-origin
// isolation the page has no SharedArrayBuffer, so wllama cannot start pthreads (one thread).
const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  let file = null;
  if (url.pathname === '/' || url.pathname === '/index.html') file = join(here, 'wllama.html');
  else if (url.pathname === '/model.gguf') file = resolve(modelPath);
  else if (url.pathname.startsWith('/wllama/')) {
    const rel = normalize(decodeURIComponent(url.pathname.slice('/wllama/'.length)));
    if (!rel.startsWith('..')) file = join(wllamaRoot, rel);
  }
  let size = 0;
  try {
    if (file) size = statSync(file).size;
  } catch {
    file = null;
  }
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': size, 'Cache-Control': 'no-store' });
  createReadStream(file).pipe(res);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
let result;
const chromiumVersion = browser.version();
try {
  const page = await browser.newPage();
  page.on('console', (m) => log(`page: ${m.text()}`));
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30_000 });
  const cfg = {
    flashAttention: FLASH_ATTENTION,
    verbose: Boolean(process.env.COMPARE_VERBOSE),
    reps: REPS,
    prefill: PREFILL_LENGTHS,
    decode: DECODE_TOKENS,
    text: fixedText(Math.max(...PREFILL_LENGTHS)),
    context: 1024,
    batch: 512,
  };
  result = await page.evaluate((c) => window.runBench(c), cfg);
  log(`Chromium ${chromiumVersion}; ${JSON.stringify(result.info)}`);
} finally {
  await browser.close();
  server.close();
}

const { loads, info, prefill, decode } = result;
if (info.multithread || info.threads !== 1) throw new Error(`wllama did not run single-threaded: ${JSON.stringify(info)}`);
const prefillMs = {};
const prefillEngineMs = {};
for (const n of PREFILL_LENGTHS) {
  const runs = prefill[n];
  log(
    `prefill ${n}: wall ${runs.map((r) => (r.wall_ms / n).toFixed(3)).join(', ')} ms/token; engine ${runs.map((r) => r.timings?.prompt_per_token_ms?.toFixed(3)).join(', ')}`,
  );
  prefillMs[String(n)] = round(median(runs.map((r) => r.wall_ms / n)));
  prefillEngineMs[String(n)] = round(median(runs.map((r) => r.timings.prompt_ms / r.timings.prompt_n)));
}
const tps = decode.map((r) => (DECODE_TOKENS * 1000) / r.wall_ms);
const engineTps = decode.map((r) => r.timings.predicted_per_second);
log(`decode: wall ${tps.map((x) => x.toFixed(2)).join(', ')} tokens/s; engine ${engineTps.map((x) => x.toFixed(2)).join(', ')}`);
const fileBytes = statSync(resolve(modelPath)).size;

console.log(
  JSON.stringify({
    engine: `wllama ${packageVersion('@wllama/wllama')} (wasm, ${info.libllama}, Chromium ${chromiumVersion})`,
    threads: 1,
    model: basename(modelPath) === 'model.gguf' ? resolve(modelPath).split('/').slice(-2).join('/') : basename(modelPath),
    load_s: round(median(loads.map((l) => l.load_s))),
    prefill_ms_per_token: prefillMs,
    decode_tokens_per_s: { 1: round(median(tps), 2) },
    engine_timings: { prefill_ms_per_token: prefillEngineMs, decode_tokens_per_s: { 1: round(median(engineTps), 2) } },
    fetch_s: round(median(loads.map((l) => l.fetch_s))),
    model_bytes: fileBytes,
    flash_attention: FLASH_ATTENTION,
    cpu: cpuModel(),
  }),
);
