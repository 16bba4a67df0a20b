// Diverse verifier tree search (search-and-learn's dvts): n / beam_width independent subtrees; each
// iteration every subtree expands beam_width candidates and keeps its best by PRM score, which is
// duplicated back to beam_width. A subtree ends when its best candidate ends (or at the last
// iteration); its last expansion is its output.
import { childLineage, ROOT_LINEAGE } from '../../runtime/sampler.ts';
import { aggregateScore, type Beam } from '../beam.ts';
import { endedWithin, requiredAfter, type SearchMethodRun } from '../method.ts';

export const dvts: SearchMethodRun = async (run) => {
  const { opts } = run;
  const K = opts.iterations;
  const bw = opts.beamWidth;
  const trees = opts.n / bw;
  const lineages = Array.from({ length: trees }, (_, i) => Array.from({ length: bw }, (_, j) => childLineage(childLineage(ROOT_LINEAGE, i), j))).flat();
  const roots = run.start(lineages);
  let subtrees: Beam[][] = Array.from({ length: trees }, (_, i) => roots.slice(i * bw, (i + 1) * bw));
  const output: Beam[] = [];
  for (let it = 0; it < K && subtrees.length > 0; it++) {
    await run.expand(subtrees.flat(), it);
    const required = requiredAfter(it, K);
    const continuing: Beam[] = [];
    for (const candidates of subtrees) {
      const scores = candidates.map((b) => aggregateScore(b.steps, opts.agg, required));
      let best = 0;
      for (let j = 1; j < candidates.length; j++) if (scores[j] > scores[best]) best = j;
      const chosen = candidates[best];
      if (endedWithin(chosen, required) || it === K - 1) {
        for (const b of candidates) {
          // Only the steps of this iteration count: drop anything generated ahead.
          if (b.steps.length > required) {
            b.steps.length = required;
            b.ended = null;
          }
          output.push(b);
          run.drop(b);
        }
        continue;
      }
      for (const b of candidates) if (b !== chosen) run.drop(b, true);
      continuing.push(chosen);
    }
    await run.verifyAhead(continuing, it);
    subtrees = continuing.map((chosen) => run.fork(chosen, required, bw));
  }
  return { beams: output, voters: output };
};
