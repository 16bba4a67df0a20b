// Exercises the public API where it matters most, in a page with the engine in its web worker: typed
// errors across the boundary, queued calls, a call cancelled while queued, streamed generation, and
// dispose. Publishes what happened on `window.apiWorker` for e2e/api-worker.spec.ts.
import { CancelledError, OptionError, createEngine, type EngineEvent } from '../../src/api/index.ts';

export interface ApiWorkerPage {
  state: 'running' | 'done' | 'error';
  error?: string;
  runsIn?: string;
  optionError?: { isOptionError: boolean; message: string };
  order?: string[];
  queuedCancel?: { isCancelled: boolean; events: number };
  sameAsAlone?: boolean;
  generated?: { text: string; streamed: string };
  statsAfter?: unknown;
  afterDispose?: boolean;
}

declare global {
  interface Window {
    apiWorker: ApiWorkerPage;
  }
}

const out: ApiWorkerPage = (window.apiWorker = { state: 'running' });
const QUICK = { method: 'beam', n: 2, beamWidth: 2, iterations: 3, seed: 1, mode: 'baseline' } as const;

async function main(): Promise<void> {
  const engine = await createEngine({ memoryMB: 256 });
  out.runsIn = (await engine.ready).runsIn;

  const bad = await engine.solve('Compute 1 + 1.', { method: 'beam', n: 3, beamWidth: 2 }).catch((e: unknown) => e);
  out.optionError = { isOptionError: bad instanceof OptionError, message: (bad as Error).message };

  // Three calls at once: the second is cancelled while it waits; the others run in order, whole.
  const order: string[] = [];
  const controller = new AbortController();
  let queuedEvents = 0;
  const first = engine.solve('Compute 2 + 3.', QUICK, { onEvent: (e: EngineEvent) => e.type === 'answer' && order.push('first') });
  const second = engine.solve('Compute 4 + 5.', QUICK, { signal: controller.signal, onEvent: () => queuedEvents++ });
  const third = engine.solve('Compute 6 + 7.', QUICK, { onEvent: (e: EngineEvent) => e.type === 'beam-created' && order.push('third') });
  controller.abort();
  const secondError = await second.catch((e: unknown) => e);
  const [, thirdResult] = await Promise.all([first, third]);
  out.order = [...new Set(order)];
  out.queuedCancel = { isCancelled: secondError instanceof CancelledError, events: queuedEvents };
  const alone = await engine.solve('Compute 6 + 7.', QUICK);
  out.sameAsAlone = JSON.stringify(alone.beams.map((b) => b.text)) === JSON.stringify(thirdResult.beams.map((b) => b.text));

  let streamed = '';
  const g = await engine.generate('Compute 3 + 4.', { chat: true, maxTokens: 24 }, { onText: (d) => (streamed += d) });
  out.generated = { text: g.text, streamed };
  out.statsAfter = await engine.stats();

  await engine.dispose();
  out.afterDispose = (await engine.solve('Compute 1 + 1.').catch((e: unknown) => e)) instanceof CancelledError;
  out.state = 'done';
  document.getElementById('log')!.textContent = JSON.stringify(out, null, 2);
}

main().catch((error: unknown) => {
  out.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  out.state = 'error';
});
