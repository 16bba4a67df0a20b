// The engine in a web worker: the GPU device, both models and the search live here, off the page's main
// thread; the page talks to it through comlink (src/api/worker-engine.ts is the other end).
import * as Comlink from 'comlink';
import { CancelledError } from '../src/errors.ts';
import { EngineCore, type CoreOptions } from '../src/api/engine-core.ts';
import { serializeError } from '../src/api/error-transfer.ts';
import type { Envelope, WorkerApi } from '../src/api/worker-protocol.ts';
import type { EngineEvent, LoadProgress } from '../src/api/types.ts';

/** Events are sent at most this often: one message per token would swamp the page. */
const EVENT_FLUSH_MS = 30;

let core: EngineCore | null = null;
const running = new Map<number, AbortController>();

async function envelope<T>(work: () => Promise<T>): Promise<Envelope<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    return { ok: false, error: serializeError(error) };
  }
}

function engine(): EngineCore {
  if (!core) throw new CancelledError('the engine worker has not been started or was disposed');
  return core;
}

/** Collects events and sends them in batches; `close()` sends the rest and waits until they arrived. */
function eventBatcher(send: ((events: EngineEvent[]) => void) | null) {
  let pending: EngineEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = async () => {
    timer = null;
    if (pending.length === 0 || !send) return;
    const batch = pending;
    pending = [];
    await send(batch);
  };
  return {
    push(event: EngineEvent) {
      if (!send) return;
      pending.push(event);
      timer ??= setTimeout(flush, EVENT_FLUSH_MS);
    },
    async close() {
      if (timer) clearTimeout(timer);
      await flush();
    },
  };
}

async function withCall<T>(callId: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  running.set(callId, controller);
  try {
    return await work(controller.signal);
  } finally {
    running.delete(callId);
  }
}

const api: WorkerApi = {
  async start(options: CoreOptions, onProgress: (p: LoadProgress) => void) {
    await core?.dispose();
    core = new EngineCore(options, 'worker', (p) => void onProgress(p));
    return envelope(() => engine().ready);
  },
  async solve(callId, problem, options, onEvents) {
    const events = eventBatcher(onEvents);
    const result = await envelope(() => withCall(callId, (signal) => engine().solve(problem, options, signal, events.push)));
    await events.close();
    return result;
  },
  async generate(callId, prompt, options, onText) {
    // The text streams through its own port: the result must not overtake its last piece (a fast
    // route finishes before the page has taken the deltas), so the reply waits for the last delivery.
    let delivered: unknown = undefined;
    const stream = onText ? (d: string) => void (delivered = onText(d)) : undefined;
    const result = await envelope(() => withCall(callId, (signal) => engine().generate(prompt, options, signal, stream)));
    await delivered;
    return result;
  },
  cancel(callId) {
    running.get(callId)?.abort();
  },
  stats() {
    return core?.stats() ?? { kvPagesInUseGenerator: 0, kvPagesInUseVerifier: 0, queuedCalls: 0 };
  },
  async dispose() {
    for (const controller of running.values()) controller.abort();
    const disposing = core;
    core = null;
    await disposing?.dispose();
  },
};

Comlink.expose(api);
