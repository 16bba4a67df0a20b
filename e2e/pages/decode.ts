// The browser decode benchmark's page: `bench --decode` (src/commands/bench-decode.ts) on each route
// asked for, on a model served by the test server (default: the bundled generator), published on
// `window.decode` for e2e/bench/run.ts --decode and e2e/decode.spec.ts. Query string: routes=cpu,webgpu
// batches=1,4,16,64 steps=16 prefill=1,128 model=/models/arith-generator/
import { benchDecode, type BenchDecodeResult } from '../../src/commands/bench-decode.ts';
import type { RouteChoice } from '../../src/runtime/route.ts';

export interface DecodePage {
  state: 'running' | 'done' | 'error';
  results: BenchDecodeResult[];
  error?: string;
}

declare global {
  interface Window {
    decode: DecodePage;
  }
}

const out: DecodePage = (window.decode = { state: 'running', results: [] });
const log = document.getElementById('log')!;
const q = new URLSearchParams(location.search);
const ints = (name: string, fallback: string) => (q.get(name) ?? fallback).split(',').map(Number);

async function main(): Promise<void> {
  const model = new URL(q.get('model') ?? '/models/arith-generator/', location.href).href;
  for (const route of (q.get('routes') ?? 'cpu,webgpu').split(',') as RouteChoice[]) {
    const r = await benchDecode({
      route,
      model,
      batches: ints('batches', '1,4,16,64'),
      steps: Number(q.get('steps') ?? 16),
      prefillLengths: ints('prefill', '1,128'),
    });
    out.results.push(r);
    log.textContent = out.results.map((x) => x.table).join('\n\n');
  }
  out.state = 'done';
}

main().catch((e: unknown) => {
  out.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  out.state = 'error';
  log.textContent = out.error;
});
