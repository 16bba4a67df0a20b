// The prefix cache of one KV pool: full pages of finished prefixes kept in the radix tree
// (radix-tree.ts) after their sequences let go, until evicted least-recently-used first. It is handed
// its page allocator (page-pool.ts): pages it evicts or drops go back there.
import type { PagePool } from './page-pool.ts';
import { RadixTree, type RadixNode } from './radix-tree.ts';

export class PrefixCache {
  readonly tree: RadixTree;
  private readonly nodeOfPage: Array<RadixNode | undefined>;
  /** Cached pages evicted so far. */
  evictions = 0;

  constructor(
    pageSize: number,
    private readonly pages: PagePool,
  ) {
    this.tree = new RadixTree(pageSize);
    this.nodeOfPage = new Array(pages.regionPages);
  }

  get root(): RadixNode {
    return this.tree.root;
  }

  isCached(page: number): boolean {
    return this.nodeOfPage[page] !== undefined;
  }

  nodeOf(page: number): RadixNode | undefined {
    return this.nodeOfPage[page];
  }

  /** Cached pages no sequence references (evictable). */
  get unreferencedCount(): number {
    return this.tree.unreferencedCount;
  }

  /** The longest cached prefix of `tokens` in whole pages, at most `maxPages`: its nodes, root-most first. */
  match(tokens: ArrayLike<number>, maxPages: number): RadixNode[] {
    return this.tree.match(tokens, maxPages);
  }

  /**
   * Caches the full page of `tokens` after `parent`, held in `page`. Returns its node, which holds
   * another page when the same prefix was cached already (K/V is a function of the tokens: share that one).
   */
  insert(parent: RadixNode, tokens: ArrayLike<number>, page: number): RadixNode {
    const node = this.tree.insert(parent, tokens, page);
    if (node.page === page) this.nodeOfPage[page] = node;
    return node;
  }

  /** A page got its first reference: a cached one leaves the eviction candidates. */
  referenced(page: number): void {
    const node = this.nodeOfPage[page];
    if (node) this.tree.setReferenced(node, true);
  }

  /** A page lost its last reference; true when the cache keeps it (false: the caller frees it). */
  unreferenced(page: number): boolean {
    const node = this.nodeOfPage[page];
    if (!node) return false;
    this.tree.setReferenced(node, false);
    if (!this.pages.inside(page)) this.dropSubtree(node); // the pool shrank past it
    return true;
  }

  /** Evicts the least recently used unreferenced leaf; returns its page (now the caller's), or -1. */
  evictOne(): number {
    const p = this.tree.evictLru();
    if (p >= 0) {
      this.nodeOfPage[p] = undefined;
      this.evictions++;
    }
    return p;
  }

  /** Evicts up to `count` pages to the free pages; returns how many. */
  evict(count: number): number {
    let n = 0;
    while (n < count) {
      const p = this.evictOne();
      if (p < 0) break;
      this.pages.giveBack(p);
      n++;
    }
    return n;
  }

  /** Removes an unreferenced cached page and its (unreferenced) descendants; frees those in range. */
  dropSubtree(node: RadixNode): void {
    for (const p of this.tree.removeSubtree(node)) {
      this.nodeOfPage[p] = undefined;
      this.pages.giveBack(p);
    }
  }

  /** Drops the unreferenced cached pages outside the pool's range (it shrank), with their subtrees. */
  dropOutside(): void {
    for (const node of [...this.tree.walk()]) {
      if (this.nodeOfPage[node.page] === node && !this.pages.inside(node.page) && this.tree.isUnreferenced(node)) this.dropSubtree(node);
    }
  }

  /** The cached page `src` now lives in page `dst` (relocation). */
  move(src: number, dst: number): void {
    const node = this.nodeOfPage[src];
    if (!node) return;
    node.page = dst;
    this.nodeOfPage[dst] = node;
    this.nodeOfPage[src] = undefined;
  }

  /** Throws unless the tree and the page map agree with the reference counts; returns the cached (unreferenced) pages. */
  check(references: (p: number) => number): number {
    let cached = 0;
    for (const node of this.tree.walk()) {
      if (this.nodeOfPage[node.page] !== node) throw new Error(`tree page ${node.page} not mapped back`);
      if (this.tree.isUnreferenced(node) !== (references(node.page) === 0)) throw new Error(`tree page ${node.page}: LRU state disagrees with its count`);
      if (references(node.page) === 0) {
        cached++;
        for (const d of this.tree.walk(node)) if (references(d.page) > 0) throw new Error(`page ${d.page} referenced under unreferenced ${node.page}`);
      }
    }
    return cached;
  }
}
