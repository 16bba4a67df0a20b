// The engine in the caller's own thread (Node: the command line, tests, servers). Same behaviour as the
// worker engine, minus the message passing.
import { CancelledError } from '../errors.ts';
import { EngineCore } from './engine-core.ts';
import type { Engine, EngineOptions } from './types.ts';

export function createLocalEngine(options: EngineOptions): Engine {
  const { onProgress, ...rest } = options;
  let core: EngineCore | null = new EngineCore(rest, 'in-process', onProgress);
  const live = (): EngineCore => {
    if (!core) throw new CancelledError('the engine was disposed');
    return core;
  };
  return {
    ready: core.ready,
    solve: async (problem, solveOptions, call = {}) => live().solve(problem, solveOptions, call.signal, call.onEvent),
    generate: async (prompt, generateOptions, call = {}) => live().generate(prompt, generateOptions, call.signal, call.onText),
    stats: async () => live().stats(),
    async dispose() {
      const disposing = core;
      core = null;
      await disposing?.dispose();
    },
  };
}
