// createEngine: in a browser page the engine runs in a dedicated web worker (the page stays responsive
// while the GPU and the search work); elsewhere (Node, or inside a worker already) it runs in-process.
import type { Engine, EngineOptions } from './types.ts';

export interface CreateEngineOptions extends EngineOptions {
  /** Browser only: run in the calling thread instead of a worker (for pages that are themselves workers). */
  inProcess?: boolean;
}

export async function createEngine(options: CreateEngineOptions = {}): Promise<Engine> {
  const { inProcess, ...engineOptions } = options;
  const isPage = typeof window !== 'undefined' && typeof Worker !== 'undefined';
  if (isPage && !inProcess) {
    const { createWorkerEngine } = await import('./worker-engine.ts');
    // Written out here so that bundlers (Vite, webpack 5) see the worker and bundle it.
    const worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'fasttts-engine' });
    return createWorkerEngine(worker, engineOptions);
  }
  const { createLocalEngine } = await import('./local-engine.ts');
  return createLocalEngine(engineOptions);
}
