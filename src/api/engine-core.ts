// The engine behind the API, where the GPU lives: in the web worker (browser) or in the caller's process
// (Node). Loads both models once, then runs calls one at a time through the CallQueue; a call waiting
// for the load receives the load progress as events. The model work itself is in backend.ts.
import type { Backend } from './backend.ts';
import { CancelledError } from '../errors.ts';
import { CallQueue } from './call-queue.ts';
import type {
  EngineEvent, EngineInfo, EngineOptions, EngineStats, GenerateOptions, GenerateResult, LoadProgress, SolveOptions,
  SolveResult,
} from './types.ts';

/** EngineOptions without the callback (it cannot cross the worker boundary as data). */
export type CoreOptions = Omit<EngineOptions, 'onProgress'>;

export class EngineCore {
  readonly ready: Promise<EngineInfo>;
  private backend: Backend | null = null;
  private readonly queue = new CallQueue();
  private readonly loadWatchers = new Set<(p: LoadProgress) => void>();
  private disposed = false;

  constructor(options: CoreOptions, runsIn: EngineInfo['runsIn'], onProgress?: (p: LoadProgress) => void) {
    this.ready = this.queue.run(async () => {
      const { loadBackend } = await import('./backend.ts');
      this.backend = await loadBackend(options, (p) => {
        onProgress?.(p);
        for (const watch of this.loadWatchers) watch(p);
      });
      if (this.disposed) this.backend.dispose();
      return { ...this.backend.info, runsIn };
    });
    this.ready.catch(() => {}); // reported to whoever awaits `ready` or makes a call
  }

  solve(problem: string, options: SolveOptions = {}, signal?: AbortSignal, onEvent?: (e: EngineEvent) => void): Promise<SolveResult> {
    return this.enqueue(signal, onEvent, (backend) => backend.solve(problem, options, signal, onEvent));
  }

  generate(prompt: string, options: GenerateOptions = {}, signal?: AbortSignal, onText?: (delta: string) => void): Promise<GenerateResult> {
    return this.enqueue(signal, undefined, (backend) => backend.generate(prompt, options, signal, onText));
  }

  stats(): EngineStats {
    const pages = this.backend?.kvPagesInUse() ?? { generator: 0, verifier: 0 };
    return { kvPagesInUseGenerator: pages.generator, kvPagesInUseVerifier: pages.verifier, queuedCalls: this.queue.waiting };
  }

  /** Frees the GPU; calls already queued fail with the load error or run against nothing. */
  dispose(): void {
    this.disposed = true;
    this.backend?.dispose();
    this.backend = null;
  }

  private enqueue<T>(signal: AbortSignal | undefined, onEvent: ((e: EngineEvent) => void) | undefined, work: (b: Backend) => Promise<T>): Promise<T> {
    const watch = onEvent && ((progress: LoadProgress) => onEvent({ type: 'load', progress }));
    if (watch && !this.backend) this.loadWatchers.add(watch);
    return this.queue.run(async () => {
      if (watch) this.loadWatchers.delete(watch);
      await this.ready;
      if (!this.backend) throw new CancelledError('the engine was disposed');
      return work(this.backend);
    }, signal).finally(() => watch && this.loadWatchers.delete(watch));
  }
}
