// The engine behind the API, where the GPU lives: in the web worker (browser) or in the caller's process
// (Node). Loads both models once, then runs calls one at a time through the CallQueue; a call waiting
// for the load receives the load progress as events. The model work itself is in backend.ts.
import type { Backend } from './backend.ts';
import { CancelledError } from '../errors.ts';
import { CallQueue } from './call-queue.ts';
import type { EngineEvent, EngineInfo, EngineOptions, EngineStats, GenerateOptions, GenerateResult, LoadProgress, SolveOptions, SolveResult } from './types.ts';

/** EngineOptions without the callback (it cannot cross the worker boundary as data). */
export type CoreOptions = Omit<EngineOptions, 'onProgress'>;

export class EngineCore {
  readonly ready: Promise<EngineInfo>;
  private backend: Backend | null = null;
  private readonly queue = new CallQueue();
  private readonly loadWatchers = new Set<(p: LoadProgress) => void>();
  private disposed = false;
  /** Aborted by dispose(): every call's signal follows it, so running and queued calls end as cancelled. */
  private readonly disposal = new AbortController();
  /** The call running now (settles once it has stopped touching the GPU). */
  private running: Promise<unknown> | null = null;

  constructor(options: CoreOptions, runsIn: EngineInfo['runsIn'], onProgress?: (p: LoadProgress) => void) {
    this.ready = this.queue.run(async () => {
      const { loadBackend } = await import('./backend.ts');
      this.backend = await loadBackend(options, (p) => {
        onProgress?.(p);
        for (const watch of this.loadWatchers) watch(p);
      });
      const info = { ...this.backend.info, runsIn };
      if (this.disposed) {
        this.backend.dispose();
        this.backend = null;
      }
      return info;
    });
    this.ready.catch(() => {}); // reported to whoever awaits `ready` or makes a call
  }

  solve(problem: string, options: SolveOptions = {}, signal?: AbortSignal, onEvent?: (e: EngineEvent) => void): Promise<SolveResult> {
    return this.enqueue(signal, onEvent, (backend, s) => backend.solve(problem, options, s, onEvent));
  }

  generate(prompt: string, options: GenerateOptions = {}, signal?: AbortSignal, onText?: (delta: string) => void): Promise<GenerateResult> {
    return this.enqueue(signal, undefined, (backend, s) => backend.generate(prompt, options, s, onText));
  }

  stats(): EngineStats {
    const pages = this.backend?.kvPagesInUse() ?? { generator: 0, verifier: 0 };
    return { kvPagesInUseGenerator: pages.generator, kvPagesInUseVerifier: pages.verifier, queuedCalls: this.queue.waiting };
  }

  /**
   * Cancels queued and running calls (they reject with CancelledError), waits until the running one has
   * stopped at its next forward call and given back its KV pages, then frees the GPU. A load still in
   * progress frees it when it finishes.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.disposal.abort();
    await this.running?.catch(() => {});
    this.backend?.dispose();
    this.backend = null;
  }

  private enqueue<T>(
    signal: AbortSignal | undefined,
    onEvent: ((e: EngineEvent) => void) | undefined,
    work: (b: Backend, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const watch = onEvent && ((progress: LoadProgress) => onEvent({ type: 'load', progress }));
    if (watch && !this.backend) this.loadWatchers.add(watch);
    const { signal: callSignal, release } = eitherAborted(signal, this.disposal.signal);
    return this.queue
      .run(async () => {
        if (watch) this.loadWatchers.delete(watch);
        await this.ready;
        if (!this.backend || this.disposed) throw new CancelledError('the engine was disposed');
        const call = work(this.backend, callSignal);
        this.running = call;
        try {
          return await call;
        } catch (e) {
          // A call stopped by dispose() is cancelled, whatever the GPU said as it went.
          if (this.disposed && !(e instanceof CancelledError)) throw new CancelledError('the engine was disposed');
          throw e;
        } finally {
          if (this.running === call) this.running = null;
        }
      }, callSignal)
      .finally(() => {
        release();
        if (watch) this.loadWatchers.delete(watch);
      });
  }
}

/**
 * A signal aborted as soon as either is (AbortSignal.any, which not every supported runtime has);
 * `release` unhooks it once the call is over, so a long-lived signal does not collect listeners.
 */
function eitherAborted(a: AbortSignal | undefined, b: AbortSignal): { signal: AbortSignal; release: () => void } {
  const both = new AbortController();
  const abort = () => both.abort();
  if (a?.aborted || b.aborted) abort();
  a?.addEventListener('abort', abort, { once: true });
  b.addEventListener('abort', abort, { once: true });
  return {
    signal: both.signal,
    release: () => {
      a?.removeEventListener('abort', abort);
      b.removeEventListener('abort', abort);
    },
  };
}
