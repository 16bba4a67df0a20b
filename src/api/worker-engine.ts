// The page's side of the engine worker: the Engine interface over comlink. AbortSignals become cancel
// messages, callbacks become comlink proxies, and error envelopes become the typed errors again.
import * as Comlink from 'comlink';
import { CancelledError } from '../errors.ts';
import { reviveError } from './error-transfer.ts';
import type { CoreOptions } from './engine-core.ts';
import type { Envelope, WorkerApi } from './worker-protocol.ts';
import type {
  CallOptions,
  Engine,
  EngineEvent,
  EngineInfo,
  EngineOptions,
  GenerateCallOptions,
  GenerateOptions,
  GenerateResult,
  ModelLocation,
  SolveOptions,
  SolveResult,
} from './types.ts';

function unwrap<T>(envelope: Envelope<T>): T {
  if (!envelope.ok) throw reviveError(envelope.error);
  return envelope.value;
}

/** URL objects are not structured-clonable: send their text. */
function clonable(location: ModelLocation | undefined): ModelLocation | undefined {
  return location instanceof URL ? location.href : location;
}

export function createWorkerEngine(worker: Worker, options: EngineOptions): Engine {
  const remote = Comlink.wrap<WorkerApi>(worker);
  const { onProgress, ...rest } = options;
  const coreOptions: CoreOptions = { ...rest, generator: clonable(rest.generator), verifier: clonable(rest.verifier) };
  let nextCallId = 1;
  let disposed = false;
  // A worker that fails to start (bad script, crash) rejects every call instead of leaving it hanging.
  const crashed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (e) => reject(new Error(`engine worker failed: ${e.message || 'script error'}`)), { once: true });
  });
  crashed.catch(() => {});
  const ready = Promise.race([
    remote
      .start(
        coreOptions,
        Comlink.proxy((p) => onProgress?.(p)),
      )
      .then(unwrap),
    crashed,
  ]);
  ready.catch(() => {});

  async function call<T>(signal: AbortSignal | undefined, send: (callId: number) => Promise<Envelope<T>>): Promise<T> {
    if (disposed) throw new CancelledError('the engine was disposed');
    if (signal?.aborted) throw new CancelledError();
    const callId = nextCallId++;
    const onAbort = () => void remote.cancel(callId);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return unwrap(await Promise.race([send(callId), crashed]));
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  return {
    ready: ready as Promise<EngineInfo>,
    solve(problem: string, solveOptions: SolveOptions = {}, { signal, onEvent }: CallOptions = {}): Promise<SolveResult> {
      const onEvents = onEvent ? Comlink.proxy((events: EngineEvent[]) => events.forEach((e) => onEvent(e))) : null;
      return call(signal, (id) => remote.solve(id, problem, solveOptions, onEvents));
    },
    generate(prompt: string, generateOptions: GenerateOptions = {}, { signal, onText }: GenerateCallOptions = {}): Promise<GenerateResult> {
      return call(signal, (id) => remote.generate(id, prompt, generateOptions, onText ? Comlink.proxy(onText) : null));
    },
    stats: () => remote.stats(),
    async dispose() {
      if (disposed) return;
      disposed = true;
      try {
        await remote.dispose();
      } finally {
        remote[Comlink.releaseProxy]();
        worker.terminate();
      }
    },
  };
}
