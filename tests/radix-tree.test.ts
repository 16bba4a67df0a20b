import { describe, expect, it } from 'vitest';
import { RadixTree, commonPrefixLength } from '../src/runtime/radix-tree.ts';

describe('RadixTree', () => {
  it('matches the longest cached prefix in whole pages', () => {
    const t = new RadixTree(2);
    const toks = [1, 2, 3, 4, 5, 6];
    let n = t.root;
    n = t.insert(n, toks, 10);
    n = t.insert(n, toks, 11);
    expect(t.match([1, 2, 3, 4, 9, 9]).map((x) => x.page)).toEqual([10, 11]);
    expect(t.match([1, 2, 3]).map((x) => x.page)).toEqual([10]);
    expect(t.match([1, 2, 3, 4], 1).map((x) => x.page)).toEqual([10]);
    expect(t.match([2, 1])).toEqual([]);
    // Same prefix again: the existing node comes back.
    expect(t.insert(t.root, [1, 2], 99).page).toBe(10);
    expect(t.size).toBe(2);
  });

  it('evicts unreferenced leaves, least recently used first, never an inner node', () => {
    const t = new RadixTree(1);
    const a = t.insert(t.root, [1], 1);
    const ab = t.insert(a, [1, 2], 2);
    const c = t.insert(t.root, [3], 3);
    for (const n of [a, ab, c]) t.setReferenced(n, false);
    t.match([3]); // c is now the most recent
    expect(t.evictLru()).toBe(2); // ab: a is older but an inner node
    expect(t.evictLru()).toBe(1);
    expect(t.evictLru()).toBe(3);
    expect(t.evictLru()).toBe(-1);
  });

  it('keeps referenced nodes', () => {
    const t = new RadixTree(1);
    const a = t.insert(t.root, [1], 1);
    t.setReferenced(a, false);
    t.setReferenced(a, true);
    expect(t.evictLru()).toBe(-1);
    expect(t.unreferencedCount).toBe(0);
    expect(() => t.removeSubtree(a)).toThrow(/still referenced/);
  });

  it('commonPrefixLength', () => {
    expect(commonPrefixLength([1, 2, 3], [1, 2, 4])).toBe(2);
    expect(commonPrefixLength([], [1])).toBe(0);
  });
});
