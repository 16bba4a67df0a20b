// Beam search (search-and-learn's beam_search): n beams; after each step keep the best n / beam_width
// by aggregated PRM score and duplicate each survivor back up to n beams. Beams that end are complete;
// the answer is voted over the first n completed (or the top n by score with sortCompleted).
import { childLineage, ROOT_LINEAGE } from '../../runtime/sampler.ts';
import { aggregateScore, beamText, type Beam } from '../beam.ts';
import { endedWithin, requiredAfter, type SearchMethodRun } from '../method.ts';

export const beamSearch: SearchMethodRun = async (run) => {
  const { opts } = run;
  const K = opts.iterations;
  let active = run.start(Array.from({ length: opts.n }, (_, i) => childLineage(ROOT_LINEAGE, i)));
  const completed: Beam[] = [];
  for (let it = 0; it < K && active.length > 0; it++) {
    await run.expand(active, it);
    const required = requiredAfter(it, K);
    const remaining: Beam[] = [];
    for (const b of active) {
      if (endedWithin(b, required)) {
        completed.push(b);
        run.drop(b, true);
      } else remaining.push(b);
    }
    if (remaining.length === 0 || it === K - 1) {
      for (const b of remaining) run.drop(b);
      break;
    }
    const candidates = opts.filterDuplicates ? withoutDuplicates(run, remaining, required) : remaining;
    // The best n / beam_width by score (ties: the earlier beam), the rest pruned.
    const scores = candidates.map((b) => aggregateScore(b.steps, opts.agg, required));
    const keep = new Set(
      candidates
        .map((_, i) => i)
        .sort((a, b) => scores[b] - scores[a] || a - b)
        .slice(0, Math.max(1, Math.floor(opts.n / opts.beamWidth))),
    );
    const survivors = candidates.filter((_, i) => keep.has(i));
    for (const [i, b] of candidates.entries()) if (!keep.has(i)) run.drop(b, true);
    await run.verifyAhead(survivors, it);
    active = duplicateToN(run, survivors, required);
  }
  // The first n completed beams, or the top n by score (sort_completed); the vote padded back to n copies.
  const scoreOf = (b: Beam): number => aggregateScore(b.steps, opts.agg);
  const ordered = opts.sortCompleted
    ? completed
        .map((b, i) => [b, i] as const)
        .sort((a, b) => scoreOf(b[0]) - scoreOf(a[0]) || a[1] - b[1])
        .map(([b]) => b)
    : completed;
  const beams = ordered.slice(0, opts.n);
  return { beams, voters: beams.length === 0 ? [] : Array.from({ length: opts.n }, (_, i) => beams[i % beams.length]) };
};

/** The beams with distinct texts through `required` steps (the first of each text kept). */
function withoutDuplicates(run: Parameters<SearchMethodRun>[0], beams: Beam[], required: number): Beam[] {
  const seen = new Set<string>();
  const out: Beam[] = [];
  for (const b of beams) {
    const text = beamText(b, required);
    if (seen.has(text)) run.drop(b);
    else {
      seen.add(text);
      out.push(b);
    }
  }
  return out;
}

/** search-and-learn's (survivors * repeats)[:n]: copy k of a survivor is its k-th occurrence. */
function duplicateToN(run: Parameters<SearchMethodRun>[0], survivors: Beam[], required: number): Beam[] {
  const n = run.opts.n;
  const copies = new Map<Beam, number>();
  for (let i = 0; i < n; i++) copies.set(survivors[i % survivors.length], (copies.get(survivors[i % survivors.length]) ?? 0) + 1);
  const children = new Map(survivors.map((s) => [s, run.fork(s, required, copies.get(s)!)]));
  const taken = new Map<Beam, number>();
  return Array.from({ length: n }, (_, i) => {
    const s = survivors[i % survivors.length];
    const k = taken.get(s) ?? 0;
    taken.set(s, k + 1);
    return children.get(s)![k];
  });
}
