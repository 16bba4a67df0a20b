// solve(): runs the search (src/search) on the loaded models and translates its progress into the API's
// event stream and its result into the CLI contract's metrics.
import { OptionError } from '../errors.ts';
import type { LoadedModels } from './backend.ts';
import type { EngineEvent, SolveOptions, SolveResult } from './types.ts';

export async function solveWithSearch(
  _models: LoadedModels, _problem: string, _options: SolveOptions, _signal: AbortSignal | undefined, _onEvent?: (e: EngineEvent) => void,
): Promise<SolveResult> {
  throw new OptionError('solve: the search is not wired into the API yet');
}
