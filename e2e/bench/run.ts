// `npm run bench:browser`: headless Chromium runs baseline and FastTTS over the synthetic test split
// through the real worker API (e2e/pages/bench.ts), then we write bench-results/browser-bench.json and
// a self-contained HTML report.
//   options: --problems K (4)  --n 2,4  --modes baseline,fasttts  --method beam  --beam-width 2
//            --iterations 10  --memory-mb M  --dataset data/arith-test.jsonl  --out bench-results
//            --server http://localhost:5174 (reuse a running test-page server instead of starting one)
//   --decode [--model /models/arith-generator/] [--routes cpu,webgpu] [--batches 1,4,16,64] [--steps 16]:
//            instead, `bench --decode` in the page on each route (e2e/pages/decode.ts), written to
//            bench-results/browser-decode.json
import { chromium } from 'playwright-core';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CHROMIUM_ARGS, CHROMIUM_ENV, CHROMIUM_PATH } from '../browser.ts';
import type { BenchPage, BenchProblem } from '../pages/bench.ts';
import type { DecodePage } from '../pages/decode.ts';
import { renderReport, summarize, type BenchRun } from './report.ts';

const { values: args } = parseArgs({
  options: {
    problems: { type: 'string', default: '4' },
    n: { type: 'string', default: '2,4' },
    modes: { type: 'string', default: 'baseline,fasttts' },
    method: { type: 'string', default: 'beam' },
    'beam-width': { type: 'string', default: '2' },
    iterations: { type: 'string', default: '10' },
    'memory-mb': { type: 'string' },
    dataset: { type: 'string', default: 'data/arith-test.jsonl' },
    out: { type: 'string', default: 'bench-results' },
    server: { type: 'string' },
    'timeout-min': { type: 'string', default: '30' },
    decode: { type: 'boolean', default: false },
    model: { type: 'string', default: '/models/arith-generator/' },
    routes: { type: 'string', default: 'cpu,webgpu' },
    batches: { type: 'string', default: '1,4,16,64' },
    steps: { type: 'string', default: '16' },
  },
});

function positiveInts(text: string, what: string): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isInteger(v) || v <= 0)) throw new Error(`--${what} must be positive integers, got "${text}"`);
  return values;
}

async function main(): Promise<void> {
  const ns = positiveInts(args.n!, 'n');
  const modes = args.modes!.split(',').map((m) => m.trim());
  if (modes.some((m) => m !== 'baseline' && m !== 'fasttts')) throw new Error(`--modes must be baseline and/or fasttts, got "${args.modes}"`);
  const problems: BenchProblem[] = (await readFile(args.dataset!, 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, positiveInts(args.problems!, 'problems')[0])
    .map((l) => JSON.parse(l))
    .map(({ id, problem, answer }) => ({ id, problem, answer }));
  const options = { method: args.method, beamWidth: Number(args['beam-width']), iterations: Number(args.iterations) };

  let server: { close(): Promise<void> } | null = null;
  let base = args.server;
  if (!base) {
    const { createServer } = await import('vite');
    const vite = await createServer({ configFile: resolve('e2e/vite.pages.config.ts'), server: { port: 5180, strictPort: false }, logLevel: 'warn' });
    await vite.listen();
    server = vite;
    base = vite.resolvedUrls!.local[0].replace(/\/$/, '');
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, env: CHROMIUM_ENV, headless: true });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && console.error(`[page] ${m.text()}`));
    if (args.decode) {
      const query = new URLSearchParams({ model: args.model!, routes: args.routes!, batches: args.batches!, steps: args.steps! });
      await page.goto(`${base}/e2e/pages/decode.html?${query}`);
      await page.waitForFunction(() => window.decode && window.decode.state !== 'running', null, { timeout: Number(args['timeout-min']) * 60_000 });
      const result: DecodePage = await page.evaluate(() => window.decode);
      if (result.state === 'error') throw new Error(`decode page failed: ${result.error}`);
      for (const r of result.results) console.log(`${r.table}\n`);
      await mkdir(args.out!, { recursive: true });
      const jsonPath = join(args.out!, 'browser-decode.json');
      await writeFile(
        jsonPath,
        JSON.stringify({ generatedAt: new Date().toISOString(), browser: `Chromium ${browser.version()}`, results: result.results }, null, 2),
      );
      console.log(`wrote ${jsonPath}`);
      return;
    }
    // The input is installed before the page's scripts on every load (a dev-server reload included).
    await page.addInitScript((input) => (window.benchInput = input), {
      problems,
      modes: modes as Array<'baseline' | 'fasttts'>,
      ns,
      options: options as never,
      memoryMB: args['memory-mb'] ? Number(args['memory-mb']) : undefined,
    });
    await page.goto(`${base}/e2e/pages/bench.html`);
    let shown = 0;
    const deadline = Date.now() + Number(args['timeout-min']) * 60_000;
    let result: BenchPage;
    for (;;) {
      result = (await page.evaluate(() => window.bench).catch(() => undefined)) ?? { state: 'running', records: [] };
      for (const r of result.records.slice(shown))
        console.log(`${r.id} n=${r.n} ${r.mode}: ${r.metrics.latency_ms.toFixed(0)} ms, answer ${r.answer} (${r.correct ? 'correct' : 'wrong'})`);
      shown = result.records.length;
      if (result.state !== 'running') break;
      if (Date.now() > deadline) throw new Error(`benchmark did not finish within ${args['timeout-min']} minutes`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (result.state === 'error') throw new Error(`benchmark page failed: ${result.error}`);
    const run: BenchRun = {
      generatedAt: new Date().toISOString(),
      browser: `Chromium ${browser.version()}`,
      adapter: result.adapter ?? 'unknown',
      loadMs: result.loadMs ?? NaN,
      options: { ...options, ns, modes, problems: problems.length, dataset: args.dataset },
      records: result.records,
    };
    const summary = summarize(run.records);
    await mkdir(args.out!, { recursive: true });
    const jsonPath = join(args.out!, 'browser-bench.json');
    const htmlPath = join(args.out!, 'browser-bench.html');
    await writeFile(jsonPath, JSON.stringify({ ...run, summary }, null, 2));
    await writeFile(htmlPath, renderReport(run, summary));
    console.log(`adapter: ${run.adapter}`);
    for (const s of summary)
      console.log(
        `${s.mode} n=${s.n}: latency median ${s.latency_ms_median.toFixed(0)} ms, goodput ${s.goodput_mean.toFixed(1)} tok/s, accuracy ${(s.accuracy * 100).toFixed(0)}%`,
      );
    console.log(`wrote ${jsonPath} and ${htmlPath}`);
  } finally {
    await browser.close();
    await server?.close();
  }
}

main().catch((e: unknown) => {
  console.error(`bench:browser: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  process.exitCode = 1;
});
