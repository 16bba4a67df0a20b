// One problem through the search, with the metrics of the command-line contract (`fasttts solve --json`).
// The caller (api/solve-search.ts) builds the SearchEnv (runners, pools, tokenizer, format).
import { runSearch, type SearchBeam } from './search.ts';
import type { SearchEnv, SearchOptions } from './context.ts';
import { poolDelta, problemMetrics, type ProblemMetrics } from '../metrics/goodput.ts';

export interface SolveOutput {
  answer: string | null;
  beams: Array<Omit<SearchBeam, 'tokens' | 'completionMs'>>;
  metrics: ProblemMetrics;
}

export async function solve(env: SearchEnv, options: SearchOptions, problem: string): Promise<SolveOutput> {
  const g0 = env.generatorPool.stats;
  const v0 = env.verifierPool.stats;
  const r = await runSearch(env, options, problem);
  const metrics = problemMetrics(r, poolDelta(g0, env.generatorPool.stats), poolDelta(v0, env.verifierPool.stats));
  // The beams as reported: the search's, less its internal counts (tokens, completion time: in the metrics).
  return { answer: r.answer, beams: r.beams.map(({ tokens: _tokens, completionMs: _completionMs, ...beam }) => beam), metrics };
}
