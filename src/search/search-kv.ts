// The search's view of one model's KV pool: block tables for beams that fork, grow, get truncated and
// are released every iteration. Full pages are shared by reference count and cached in the radix tree
// (runtime/radix-tree.ts) after their sequences let go, so a sibling, a preempted beam coming back, or
// the next iteration finds its prefix again; a partly filled page is copied on write. When pages run
// out, unreferenced cached pages are evicted least-recently-used first; if that is not enough the
// caller (the generation engine) preempts a sequence and recomputes it later.
import { RadixTree, type RadixNode } from '../runtime/radix-tree.ts';
import { OptionError } from '../errors.ts';

/** One sequence's KV: its pages and how many leading tokens have K/V in them. */
export interface KvSeq {
  pages: number[];
  /** Tokens whose K/V is in `pages` (a prefix of the sequence). */
  computed: number;
  /** Radix node of each leading full page registered in the tree (prefix sharing). */
  nodes: RadixNode[];
  /** Highest `computed` ever reached: tokens computed again below it count as recomputed. */
  highWater: number;
}

export interface KvPoolStats {
  prefixHitTokens: number;
  recomputedTokens: number;
  evictions: number;
  copyOnWrite: number;
  peakPages: number;
}

export class SearchKvPool {
  readonly tree: RadixTree;
  readonly stats: KvPoolStats = { prefixHitTokens: 0, recomputedTokens: 0, evictions: 0, copyOnWrite: 0, peakPages: 0 };
  /** Page copies (copy-on-write) the runner must perform before the next forward call. */
  pendingCopies: Array<[number, number]> = [];
  private readonly refs: Int32Array;
  private readonly nodeOfPage: (RadixNode | null)[];
  private readonly freeList: number[];
  private used = 0;
  private cap: number;

  constructor(readonly numPages: number, readonly pageSize: number, capacity = numPages) {
    if (!Number.isInteger(numPages) || numPages <= 0) throw new OptionError(`KV pool needs a positive page count, got ${numPages}`);
    this.tree = new RadixTree(pageSize);
    this.refs = new Int32Array(numPages);
    this.nodeOfPage = new Array(numPages).fill(null);
    this.freeList = Array.from({ length: numPages }, (_, i) => numPages - 1 - i);
    this.cap = Math.min(capacity, numPages);
  }

  newSeq(): KvSeq {
    return { pages: [], computed: 0, nodes: [], highWater: 0 };
  }

  /** Pages held by sequences or cached (not free). */
  get pagesInUse(): number {
    return this.used;
  }

  /** Pages referenced by at least one sequence. */
  get pagesReferenced(): number {
    return this.used - this.tree.unreferencedCount;
  }

  get capacity(): number {
    return this.cap;
  }

  /** Changes how many pages this pool may use (the memory split); evicts cached pages to fit. */
  setCapacity(pages: number): void {
    this.cap = Math.max(1, Math.min(pages, this.numPages));
    while (this.used > this.cap && this.evictOne());
  }

  /** Pages a sequence could still obtain: free under the cap plus evictable cached ones. */
  get available(): number {
    return Math.max(0, this.cap - this.used) + this.tree.unreferencedCount;
  }

  /** Attaches the longest cached prefix of `tokens` (whole pages, at most `limit` tokens) to an empty sequence. */
  attach(seq: KvSeq, tokens: ArrayLike<number>, limit = tokens.length): void {
    if (seq.pages.length > 0) throw new Error('attach: sequence already holds pages');
    // Keep at least one token to compute: the caller needs logits at the last position.
    const path = this.tree.match(tokens, Math.floor(Math.max(0, limit - 1) / this.pageSize));
    for (const node of path) {
      this.ref(node.page);
      seq.pages.push(node.page);
      seq.nodes.push(node);
    }
    seq.computed = path.length * this.pageSize;
    this.stats.prefixHitTokens += seq.computed;
  }

  /** Tokens of `tokens` (whole pages, at most limit - 1) an empty sequence would find cached now. */
  cachedPrefix(tokens: ArrayLike<number>, limit = tokens.length): number {
    return this.tree.match(tokens, Math.floor(Math.max(0, limit - 1) / this.pageSize)).length * this.pageSize;
  }

  /** A new sequence sharing `src`'s first `length` tokens of K/V (full pages shared, the partial one copied). */
  fork(src: KvSeq, length: number): KvSeq {
    const keep = Math.min(length, src.computed);
    const full = Math.floor(keep / this.pageSize);
    const child: KvSeq = { pages: src.pages.slice(0, full), computed: full * this.pageSize, nodes: src.nodes.slice(0, full), highWater: keep };
    for (const p of child.pages) this.ref(p);
    if (keep > child.computed) {
      const page = this.allocPage();
      if (page >= 0) {
        this.pendingCopies.push([src.pages[full], page]);
        this.stats.copyOnWrite++;
        child.pages.push(page);
        child.computed = keep;
      }
    }
    this.stats.prefixHitTokens += child.computed;
    return child;
  }

  /** Drops K/V from position `length` on; a kept, shared or cached partial page is copied first. */
  truncate(seq: KvSeq, length: number): void {
    if (length >= seq.computed && length >= seq.pages.length * this.pageSize) return;
    const keepPages = Math.ceil(length / this.pageSize);
    while (seq.pages.length > keepPages) this.unref(seq.pages.pop()!);
    if (seq.nodes.length > keepPages) seq.nodes.length = keepPages;
    seq.computed = Math.min(seq.computed, length);
    const partial = length % this.pageSize !== 0 && seq.pages.length === keepPages && keepPages > 0;
    if (partial) {
      const last = seq.pages[keepPages - 1];
      if (this.refs[last] > 1 || this.nodeOfPage[last] !== null) {
        // Its K/V beyond `length` will be overwritten: never in a page someone else reads.
        seq.pages.pop();
        if (seq.nodes.length === keepPages) seq.nodes.pop();
        const page = this.allocPage();
        if (page >= 0 && seq.computed > (keepPages - 1) * this.pageSize) {
          this.pendingCopies.push([last, page]);
          this.stats.copyOnWrite++;
          seq.pages.push(page);
        } else {
          if (page >= 0) this.release1(page);
          seq.computed = Math.min(seq.computed, (keepPages - 1) * this.pageSize);
        }
        this.unref(last);
      }
    }
  }

  /** Pages free under the cap without evicting anything cached. */
  get freePages(): number {
    return Math.max(0, Math.min(this.cap - this.used, this.freeList.length));
  }

  /** Like reserve, but only from free pages: never evicts a cached prefix (speculative work). */
  reserveFree(seq: KvSeq, length: number): boolean {
    const need = Math.ceil(length / this.pageSize) - seq.pages.length;
    if (need <= 0) return true;
    if (need > this.freePages) return false;
    return this.reserve(seq, length);
  }

  /** Makes room for positions [0, length); false (nothing left half-done) when the pool cannot. */
  reserve(seq: KvSeq, length: number): boolean {
    const need = Math.ceil(length / this.pageSize) - seq.pages.length;
    if (need <= 0) return true;
    if (need > this.available) return false;
    for (let i = 0; i < need; i++) {
      const p = this.allocPage();
      if (p < 0) throw new Error('KV pool: available pages miscounted');
      seq.pages.push(p);
    }
    return true;
  }

  /** Records that `seq`'s K/V now covers `computed` tokens of `tokens`; caches its newly full pages. */
  commit(seq: KvSeq, tokens: ArrayLike<number>, computed: number): void {
    const from = seq.computed;
    if (computed > seq.highWater) {
      this.stats.recomputedTokens += Math.max(0, seq.highWater - from);
      seq.highWater = computed;
    } else {
      this.stats.recomputedTokens += computed - from;
    }
    seq.computed = computed;
    const full = Math.floor(computed / this.pageSize);
    for (let i = seq.nodes.length; i < full; i++) {
      const parent = i === 0 ? this.tree.root : seq.nodes[i - 1];
      const page = seq.pages[i];
      const node = this.tree.insert(parent, tokens, page);
      if (node.page !== page) {
        // The same prefix is cached already: use that page and give ours back.
        this.ref(node.page);
        seq.pages[i] = node.page;
        this.unref(page);
      } else {
        this.nodeOfPage[page] = node;
      }
      seq.nodes.push(node);
    }
  }

  /**
   * Lets go of `seq` for good: pages only it held are freed at once instead of being cached (its
   * tokens will never be asked for again: a pruned beam, discarded speculation), so they do not push
   * useful prefixes out of the LRU cache.
   */
  discard(seq: KvSeq): void {
    for (let i = seq.pages.length - 1; i >= 0; i--) {
      const page = seq.pages[i];
      const node = this.nodeOfPage[page];
      if (this.refs[page] === 1 && node && node.children.size === 0 && node.parent && node.parent.children.get(node.key) === node) {
        this.refs[page] = 0;
        this.tree.setReferenced(node, false);
        this.tree.removeSubtree(node);
        this.release1(page);
      } else this.unref(page);
    }
    seq.pages = [];
    seq.nodes = [];
    seq.computed = 0;
  }

  /** Lets go of all of `seq`'s pages (cached full pages stay until evicted). */
  release(seq: KvSeq): void {
    for (const p of seq.pages) this.unref(p);
    seq.pages = [];
    seq.nodes = [];
    seq.computed = 0;
  }

  /** Takes the copies to run (runner.copyPages) before the next forward. */
  takeCopies(): Array<[number, number]> {
    const c = this.pendingCopies;
    this.pendingCopies = [];
    return c;
  }

  private ref(page: number): void {
    if (this.refs[page]++ === 0) {
      const node = this.nodeOfPage[page];
      if (node) this.tree.setReferenced(node, true);
    }
  }

  private unref(page: number): void {
    if (--this.refs[page] > 0) return;
    if (this.refs[page] < 0) throw new Error(`KV pool: page ${page} released twice`);
    const node = this.nodeOfPage[page];
    if (node && node.parent && node.parent.children.get(node.key) === node) this.tree.setReferenced(node, false);
    else this.release1(page);
  }

  private release1(page: number): void {
    this.nodeOfPage[page] = null;
    this.refs[page] = 0;
    this.freeList.push(page);
    this.used--;
  }

  private evictOne(): boolean {
    const page = this.tree.evictLru();
    if (page < 0) return false;
    this.stats.evictions++;
    this.release1(page);
    return true;
  }

  /** A fresh page with one reference, evicting a cached one if needed; -1 when none can be had. */
  private allocPage(): number {
    if (this.used >= this.cap || this.freeList.length === 0) {
      if (!this.evictOne()) return -1;
    }
    const p = this.freeList.pop()!;
    this.refs[p] = 1;
    this.used++;
    if (this.used > this.stats.peakPages) this.stats.peakPages = this.used;
    return p;
  }
}
