// Forward calls split to the runner's batch limit (chunked prefill) give the same outputs as one call;
// and the KV pool keeps its page accounting through fork, truncate, release and eviction.
import { describe, expect, it } from 'vitest';
import { forwardInParts } from '../src/runtime/forward-batch.ts';
import { SyntheticRunner } from '../src/simulation/synthetic-model.ts';
import { SearchKvPool } from '../src/search/search-kv.ts';

describe('forwardInParts', () => {
  it('equals one big call for generator logits and verifier scores', async () => {
    for (const kind of ['causal-lm', 'prm-value-head'] as const) {
      const a = new SyntheticRunner(kind, 64, 4);
      const b = new SyntheticRunner(kind, 64, 4);
      const chunks = [
        { blockTable: [0, 1, 2, 3, 4], start: 0, tokens: Array.from({ length: 19 }, (_, i) => 20 + (i % 30)), outputRows: [3, 10, 18] },
        { blockTable: [8, 9], start: 0, tokens: [30, 31, 32], outputRows: [2] },
        { blockTable: [12, 13, 14], start: 0, tokens: Array.from({ length: 11 }, (_, i) => 40 + i), outputRows: [10] },
      ];
      const one = await a.forward({ chunks });
      const parts = await forwardInParts(b, { chunks }, 5);
      expect(parts.rows).toBe(one.rows);
      expect(parts.logits ?? parts.scores).toEqual(one.logits ?? one.scores);
    }
  });
});

describe('SearchKvPool', () => {
  it('accounts pages through fork, truncate, release and eviction', () => {
    const pool = new SearchKvPool(16, 4);
    const tokens = Array.from({ length: 14 }, (_, i) => i);
    const s = pool.newSeq();
    expect(pool.reserve(s, 14)).toBe(true);
    pool.commit(s, tokens, 14);
    expect(pool.pagesInUse).toBe(4);
    const f = pool.fork(s, 10); // 2 full pages shared, the third copied
    expect(pool.takeCopies()).toHaveLength(1);
    expect(f.computed).toBe(10);
    expect(pool.pagesInUse).toBe(5);
    pool.truncate(s, 6); // page 2 (cached, full) dropped; page 1 partly kept: copied on write
    expect(s.computed).toBe(6);
    pool.release(s);
    pool.release(f);
    // Cached full pages remain until evicted; a new sequence finds them.
    const t = pool.newSeq();
    pool.attach(t, tokens, 14);
    expect(t.computed).toBe(12);
    pool.release(t);
    const big = pool.newSeq();
    expect(pool.reserve(big, 64)).toBe(true); // evicts everything cached
    expect(pool.pagesInUse).toBe(16);
    expect(pool.reserve(pool.newSeq(), 1)).toBe(false);
  });
});
