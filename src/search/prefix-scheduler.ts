// Dynamic prefix-aware scheduling (FastTTS technique 3): the order in which beams are batched and
// admitted so that consecutive beams share the longest prefixes. Greedy longest-common-prefix order is
// a depth-first walk of the trie of the beams' token sequences, visiting children in the order of their
// earliest beam (so siblings stay together and the parents' order is kept). Admitting beams in this
// order keeps shared KV pages in use together, so fewer are evicted and recomputed when memory is tight.
// The order never changes what any beam generates (outputs do not depend on batch composition).
import { commonPrefixLength } from '../runtime/radix-tree.ts';

/** Beam indices in greedy longest-common-prefix order. */
export function prefixAwareOrder(sequences: ReadonlyArray<ArrayLike<number>>): number[] {
  const out: number[] = [];
  const visit = (group: number[], depth: number): void => {
    if (group.length === 1) {
      out.push(group[0]);
      return;
    }
    // Skip the part all of the group shares.
    let d = depth;
    for (;;) {
      const first = sequences[group[0]];
      if (d >= first.length) break;
      const t = first[d];
      let same = true;
      for (const i of group)
        if (d >= sequences[i].length || sequences[i][d] !== t) {
          same = false;
          break;
        }
      if (!same) break;
      d++;
    }
    // Beams that end here come first, then the branches by their earliest beam (group is ascending).
    const branches = new Map<number, number[]>();
    for (const i of group) {
      const s = sequences[i];
      if (d >= s.length) out.push(i);
      else {
        const b = branches.get(s[d]);
        if (b) b.push(i);
        else branches.set(s[d], [i]);
      }
    }
    for (const b of branches.values()) visit(b, d + 1);
  };
  if (sequences.length > 0)
    visit(
      sequences.map((_, i) => i),
      0,
    );
  return out;
}

/**
 * True when a sequence about to be (re)computed from `cached` tokens shares a longer prefix with a
 * sequence that the same forward call computes: deferring it by one call lets the prefix cache serve
 * that prefix instead of computing it twice.
 */
export function batchMateComputes(
  tokens: ArrayLike<number>,
  cached: number,
  mates: ReadonlyArray<{ tokens: ArrayLike<number>; computed: number }>,
  pageSize: number,
): boolean {
  for (const m of mates) {
    const shared = commonPrefixLength(tokens, m.tokens);
    if (shared >= cached + pageSize && m.computed < shared - pageSize) return true;
  }
  return false;
}
