// Best-of-N: n independent samples of the whole solution (one iteration, generated to the end), each
// scored step by step by the PRM; the selection rule picks the answer. Majority voting is the same
// sampling without a verifier (the vote is the rule), and greedy is one sample at temperature 0
// (normalizeOptions in search.ts fixes n, iterations and temperature for each).
import { childLineage, ROOT_LINEAGE } from '../../runtime/sampler.ts';
import type { SearchMethodRun } from '../method.ts';

export const bestOfN: SearchMethodRun = async (run) => {
  const samples = run.start(Array.from({ length: run.opts.n }, (_, i) => childLineage(ROOT_LINEAGE, i)));
  await run.expand(samples, 0);
  for (const b of samples) run.drop(b);
  return { beams: samples, voters: samples };
};

export const majority = bestOfN;
export const greedy = bestOfN;
