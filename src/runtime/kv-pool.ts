// One model's KV pool as its sequences see it: each sequence (a beam, a prompt) has a block table of
// pages and a count of leading tokens whose K/V they hold; the caller keeps the tokens and passes them
// in. Pages are shared by reference count (page-pool.ts): a fork shares full pages and copies a partly
// filled one, queued for the runner (takeCopies) or made on the host bytes while offloaded. Full pages
// of finished prefixes stay in the prefix cache (prefix-cache.ts) until evicted, and a new or released
// sequence takes its cached prefix back (attachPrefix). The pool never hands out a page it does not
// have: reserve() says false, and the caller (the search's scheduler) decides whom to preempt.
//
// The pool's range of page ids can move (setRange, the arena's split): cached pages outside are
// dropped, live ones relocated through the runner's copyPages, or their sequences' K/V dropped when no
// page is left. Offloading moves the K/V of the whole pool to host memory (kv-offload.ts).
import { HostPages, type PageIo } from './kv-offload.ts';
import { PagePool, range, type PageCopier } from './page-pool.ts';
import { PrefixCache } from './prefix-cache.ts';
import type { RadixNode } from './radix-tree.ts';
import { KvSequence, type PoolName } from './kv-sequence.ts';

export interface KvPoolStats {
  pool: PoolName;
  capacityPages: number;
  pagesInUse: number;
  cachedPages: number;
  freePages: number;
  /** Pages referenced by more than one sequence now, and the most at once since resetPeak. */
  sharedPages: number;
  peakSharedPages: number;
  peakPagesInUse: number;
  liveSequences: number;
  prefixHitTokens: number;
  recomputedTokens: number;
  evictions: number;
  preemptions: number;
  copyOnWriteCopies: number;
  /** Live pages moved when the pool shrank. */
  relocatedPages: number;
  /** Bytes moved to and from host memory by KV offloading. */
  hostTransferBytes: number;
  /** The pool's K/V is in host memory now (its pages are lent to the other pool). */
  offloaded: boolean;
}

/** One model's pages: page ids [lo, hi) of that model's KV region. */
export class KvPool {
  private readonly pages: PagePool;
  private readonly cache: PrefixCache;
  private readonly live = new Set<KvSequence>();
  private nextId = 0;
  private copier: PageCopier | null = null;
  private io: PageIo | null = null;
  /** While offloaded: the K/V of the pool's pages in host memory (the device pages are lent out). */
  private host: HostPages | null = null;
  private readonly counters = { prefixHitTokens: 0, recomputedTokens: 0, preemptions: 0, copyOnWriteCopies: 0, relocatedPages: 0, hostTransferBytes: 0 };

  /**
   * @param regionPages page ids the model's runner can address (its KV region)
   * @param pageBytes bytes of one page of this model (pageSize * kvBytesPerToken)
   */
  constructor(
    readonly name: PoolName,
    readonly pageSize: number,
    readonly regionPages: number,
    readonly pageBytes: number,
    lo = 0,
    hi = regionPages,
  ) {
    if (!Number.isInteger(pageSize) || pageSize <= 0) throw new RangeError(`page size must be a positive integer, got ${pageSize}`);
    this.pages = new PagePool(regionPages, name === 'verifier', lo, hi);
    this.cache = new PrefixCache(pageSize, this.pages);
  }

  /** The runner whose copyPages performs copy-on-write and relocation. */
  attach(copier: PageCopier): void {
    this.copier = copier;
  }

  /** The page transfers offloadToHost / restoreFromHost use when not given one. */
  attachIo(io: PageIo): void {
    this.io = io;
  }

  get capacityPages(): number {
    return this.pages.capacity;
  }

  get pageRange(): [lo: number, hi: number] {
    return this.pages.range;
  }

  get sequences(): ReadonlySet<KvSequence> {
    return this.live;
  }

  /** Pages a sequence could get now: free ones plus cached ones nobody references. */
  get availablePages(): number {
    return this.pages.freeCount + this.cache.unreferencedCount;
  }

  /** Pages free now without evicting anything cached. */
  get freePageCount(): number {
    return this.pages.freeCount;
  }

  /** Pages referenced by at least one sequence. */
  get pagesReferenced(): number {
    return this.pages.inUse;
  }

  referencesOf(page: number): number {
    return this.pages.references(page);
  }

  isCached(page: number): boolean {
    return this.cache.isCached(page);
  }

  /** Evicts up to `count` cached, unreferenced pages (least recently used first); returns how many. */
  evict(count: number): number {
    return this.cache.evict(count);
  }

  // ---- sequences ------------------------------------------------------------------------------------

  /** An empty sequence (pass its tokens to attachPrefix and commitTokens). */
  open(): KvSequence {
    const seq = new KvSequence(this.nextId++, this.name, this.cache.root);
    this.live.add(seq);
    return seq;
  }

  /** Attaches the longest cached prefix of `tokens` (whole pages, at most limit - 1 tokens) to a sequence holding no pages. */
  attachPrefix(seq: KvSequence, tokens: ArrayLike<number>, limit = tokens.length): void {
    if (seq.blockTable.length > 0) throw new Error('attachPrefix: sequence already holds pages');
    this.track(seq);
    const path = this.cache.match(tokens, Math.floor(Math.max(0, limit - 1) / this.pageSize));
    for (const node of path) {
      this.ref(node.page);
      seq.blockTable.push(node.page);
    }
    if (path.length > 0) seq.node = path[path.length - 1];
    seq.treePages = path.length;
    seq.computed = path.length * this.pageSize;
    this.counters.prefixHitTokens += seq.computed;
  }

  /** Tokens of `tokens` (whole pages, at most limit - 1) a sequence holding no pages would find cached now. */
  cachedPrefix(tokens: ArrayLike<number>, limit = tokens.length): number {
    return this.cache.match(tokens, Math.floor(Math.max(0, limit - 1) / this.pageSize)).length * this.pageSize;
  }

  /** A new sequence sharing `src`'s first `length` tokens of K/V (full pages shared, the partial one copied). */
  forkAt(src: KvSequence, length: number): KvSequence {
    const keep = Math.min(length, src.computed);
    const full = Math.floor(keep / this.pageSize);
    const child = this.open();
    child.blockTable = src.blockTable.slice(0, full);
    for (const p of child.blockTable) this.ref(p);
    child.treePages = Math.min(src.treePages, full);
    child.node = ancestorAt(src.node, child.treePages);
    child.computed = full * this.pageSize;
    child.highWater = keep;
    if (keep > child.computed) {
      const page = this.tryAllocate();
      if (page >= 0) {
        this.queueCopy(src.blockTable[full], page);
        this.counters.copyOnWriteCopies++;
        child.blockTable.push(page);
        child.computed = keep;
      }
    }
    this.counters.prefixHitTokens += child.computed;
    return child;
  }

  /** Drops K/V from position `length` on; a kept partial page that is shared or cached is copied first. */
  truncateTo(seq: KvSequence, length: number): void {
    if (length >= seq.computed && length >= seq.blockTable.length * this.pageSize) return;
    const keep = Math.ceil(length / this.pageSize);
    this.releaseAll(seq.blockTable.splice(keep));
    this.cutTreePath(seq, keep);
    seq.computed = Math.min(seq.computed, length);
    if (length % this.pageSize === 0 || seq.blockTable.length !== keep || keep === 0) return;
    const last = seq.blockTable[keep - 1];
    if (this.pages.references(last) === 1 && !this.cache.isCached(last)) return;
    // Its K/V beyond `length` will be overwritten: never in a page someone else reads.
    seq.blockTable.pop();
    this.cutTreePath(seq, keep - 1);
    const page = this.tryAllocate();
    if (page >= 0 && seq.computed > (keep - 1) * this.pageSize) {
      this.queueCopy(last, page);
      this.counters.copyOnWriteCopies++;
      seq.blockTable.push(page);
    } else {
      if (page >= 0) this.releaseAll([page]);
      seq.computed = Math.min(seq.computed, (keep - 1) * this.pageSize);
    }
    this.releaseAll([last]);
  }

  /** Makes room for positions [0, length); false (nothing changed) when the pool cannot. May evict cached pages. */
  reserve(seq: KvSequence, length: number): boolean {
    const need = Math.ceil(length / this.pageSize) - seq.blockTable.length;
    if (need <= 0) return true;
    if (need > this.availablePages) return false;
    this.track(seq);
    for (let i = 0; i < need; i++) seq.blockTable.push(this.allocate());
    return true;
  }

  /** Like reserve, but only from free pages: never evicts a cached prefix (speculative work). */
  reserveFree(seq: KvSequence, length: number): boolean {
    const need = Math.ceil(length / this.pageSize) - seq.blockTable.length;
    if (need <= 0) return true;
    return need <= this.pages.freeCount && this.reserve(seq, length);
  }

  /** Records that the sequence's K/V now covers `computed` tokens of `tokens`; caches its newly full pages. */
  commitTokens(seq: KvSequence, tokens: ArrayLike<number>, computed: number): void {
    const from = seq.computed;
    if (computed > seq.highWater) {
      this.counters.recomputedTokens += Math.max(0, seq.highWater - from);
      seq.highWater = computed;
    } else {
      this.counters.recomputedTokens += computed - from;
    }
    seq.computed = computed;
    this.cacheFullPages(seq, tokens);
  }

  /** Lets go of all of the sequence's pages (cached full pages stay until evicted); attachPrefix() takes it back. */
  release(seq: KvSequence): void {
    this.releaseAll(seq.blockTable);
    this.dropSequencePages(seq);
  }

  /**
   * Lets go of a sequence for good: pages only it held are freed at once instead of being cached (its
   * tokens will never be asked for again: a pruned beam, discarded speculation), so they do not push
   * useful prefixes out of the LRU cache.
   */
  discard(seq: KvSequence): void {
    for (let i = seq.blockTable.length - 1; i >= 0; i--) {
      const page = seq.blockTable[i];
      const node = this.cache.nodeOf(page);
      const soleLeaf = this.pages.references(page) === 1 && node !== undefined && node.children.size === 0;
      this.releaseAll([page]);
      if (soleLeaf && this.cache.nodeOf(page) === node) this.cache.dropSubtree(node);
    }
    this.dropSequencePages(seq);
  }

  /** Takes the copies to run (runner.copyPages) before the next forward call. */
  takeCopies(): Array<[number, number]> {
    return this.pages.takeCopies();
  }

  /** Counts a preemption the caller made by releasing a sequence to make room. */
  countPreemption(): void {
    this.counters.preemptions++;
  }

  /** Starts new peaks (peakPagesInUse, peakSharedPages) from now. */
  resetPeak(): void {
    this.pages.resetPeak();
  }

  // ---- pool size ------------------------------------------------------------------------------------

  /**
   * Moves the pool to page ids [lo, hi) (between iterations, copies run). Free and cached pages
   * outside it are dropped; live pages outside it are copied to free pages inside it, or, when none is
   * left, the K/V of the sequences holding them is dropped (they take their cached prefix back later).
   * While offloaded the same moves happen on the host bytes (restoreFromHost writes them back).
   */
  async setRange(lo: number, hi: number): Promise<void> {
    if (lo < 0 || hi > this.regionPages || lo > hi) throw new RangeError(`${this.name} KV pool: page range [${lo}, ${hi}) outside [0, ${this.regionPages})`);
    if (this.pages.pendingCopies > 0) throw new Error(`${this.name} KV pool: resize with copy-on-write copies not yet run (takeCopies first)`);
    const refs = (p: number) => this.pages.references(p);
    this.pages.setRange(lo, hi, (p) => refs(p) === 0 && !this.cache.isCached(p));
    // Cached pages outside go (with their unreferenced subtrees, ancestors before descendants).
    this.cache.dropOutside();
    // Live pages outside: copy each to a page inside; when none is left, drop the K/V of the sequences holding it.
    const moved = new Map<number, number>();
    const outside = new Set<number>();
    for (const q of this.live) for (const p of q.blockTable) if (!this.pages.inside(p)) outside.add(p);
    for (const p of outside) {
      if (refs(p) === 0) continue; // dropped with a sequence above
      let dst = this.pages.takeFree();
      if (dst < 0) dst = this.cache.evictOne();
      if (dst < 0) {
        for (const q of [...this.live]) if (q.blockTable.includes(p)) this.dropKv(q);
        continue;
      }
      moved.set(p, dst);
    }
    const copies = [...moved].filter(([src]) => refs(src) > 0);
    if (copies.length > 0 && this.host) {
      for (const [src, dst] of copies) this.host.move(src, dst);
    } else if (copies.length > 0) {
      if (!this.copier) throw new Error(`${this.name} KV pool: relocation needs attach(runner) first`);
      await this.copier.copyPages(copies);
    }
    for (const [src, dst] of moved) {
      if (refs(src) === 0) {
        this.pages.giveBack(dst); // its sequences were dropped after the page was picked
        continue;
      }
      this.pages.moveReferences(src, dst);
      this.cache.move(src, dst);
    }
    if (copies.length > 0) {
      for (const q of this.live) q.blockTable = q.blockTable.map((p) => (refs(p) === 0 && moved.has(p) ? moved.get(p)! : p));
      this.counters.relocatedPages += copies.length;
    }
    this.pages.recountInUse();
  }

  // ---- offloading to host memory --------------------------------------------------------------------

  get isOffloaded(): boolean {
    return this.host !== null;
  }

  /** Pages whose K/V waits in host memory (0 when resident). */
  get offloadedPages(): number {
    return this.host ? this.capacityPages - this.pages.freeCount - this.cache.unreferencedCount : 0;
  }

  /**
   * Moves the K/V of every referenced page to host memory; cached pages nobody references are evicted
   * rather than moved. The bookkeeping stays (sequences, block tables, counts) and keeps working, but
   * no forward call may run until restoreFromHost(). The device pages may be used by the other pool
   * meanwhile. Returns the bytes moved.
   */
  async offloadToHost(io: PageIo | null = this.io): Promise<number> {
    if (this.host) return 0;
    if (!io) throw new Error(`${this.name} KV pool: offloading needs attachIo(...) first`);
    if (this.pages.pendingCopies > 0) throw new Error(`${this.name} KV pool: offload with copy-on-write copies not yet run (takeCopies first)`);
    this.cache.evict(Infinity);
    const [lo, hi] = this.pages.range;
    const { host, bytes } = await HostPages.read(
      io,
      range(lo, hi).filter((p) => this.pages.references(p) > 0),
    );
    this.host = host;
    this.counters.hostTransferBytes += bytes;
    return bytes;
  }

  /**
   * Writes the offloaded K/V back to the device, at the page ids the bookkeeping holds now (the pool's
   * current range: a shrink while offloaded relocated them on the host). Returns the bytes moved.
   */
  async restoreFromHost(io: PageIo | null = this.io): Promise<number> {
    if (!this.host) return 0;
    if (!io) throw new Error(`${this.name} KV pool: restoring needs attachIo(...) first`);
    // Pages freed while offloaded are skipped; pages reserved meanwhile hold nothing yet.
    const bytes = await this.host.write(io, (p) => this.pages.references(p) > 0 || this.cache.isCached(p));
    this.host = null;
    this.counters.hostTransferBytes += bytes;
    return bytes;
  }

  // ---- accounting -----------------------------------------------------------------------------------

  stats(): KvPoolStats {
    const c = this.counters;
    return {
      pool: this.name,
      capacityPages: this.capacityPages,
      pagesInUse: this.pages.inUse,
      cachedPages: this.cache.unreferencedCount,
      freePages: this.pages.freeCount,
      sharedPages: this.pages.shared,
      peakSharedPages: this.pages.peakShared,
      liveSequences: this.live.size,
      offloaded: this.host !== null,
      prefixHitTokens: c.prefixHitTokens,
      recomputedTokens: c.recomputedTokens,
      evictions: this.cache.evictions,
      preemptions: c.preemptions,
      copyOnWriteCopies: c.copyOnWriteCopies,
      relocatedPages: c.relocatedPages,
      peakPagesInUse: this.pages.peakInUse,
      hostTransferBytes: c.hostTransferBytes,
    };
  }

  /** Throws if any bookkeeping invariant is broken (tests call it after every operation). */
  checkInvariants(): void {
    const refs = new Int32Array(this.regionPages);
    for (const s of this.live) {
      const seen = new Set<number>();
      for (const p of s.blockTable) {
        if (seen.has(p)) throw new Error(`sequence ${s.id} holds page ${p} twice`);
        seen.add(p);
        refs[p]++;
      }
      if (s.blockTable.length < Math.ceil(s.computed / this.pageSize))
        throw new Error(`sequence ${s.id}: ${s.blockTable.length} pages for ${s.computed} tokens`);
      let n = s.node;
      for (let i = s.treePages - 1; i >= 0; i--, n = n.parent!) {
        if (n.depth !== i || s.blockTable[i] !== n.page) throw new Error(`sequence ${s.id}: page ${i} is not its cached tree page`);
      }
      if (n !== this.cache.root) throw new Error(`sequence ${s.id}: tree path does not reach the root`);
    }
    this.pages.check(refs, (p) => this.cache.isCached(p));
    const cached = this.cache.check((p) => this.pages.references(p));
    if (this.pages.freeCount + this.pages.inUse + cached !== this.capacityPages) {
      throw new Error(`free ${this.pages.freeCount} + used ${this.pages.inUse} + cached ${cached} != capacity ${this.capacityPages}`);
    }
  }

  // ---- internals ------------------------------------------------------------------------------------

  private track(seq: KvSequence): void {
    if (seq.pool !== this.name) throw new Error(`kv pool ${this.name}: sequence ${seq.id} belongs to the ${seq.pool} pool`);
    if (seq.state !== 'live') seq.state = 'live';
    this.live.add(seq);
  }

  private dropSequencePages(seq: KvSequence): void {
    seq.blockTable = [];
    seq.treePages = 0;
    seq.node = this.cache.root;
    seq.computed = 0;
    seq.state = 'freed';
    this.live.delete(seq);
  }

  /** Drops a live sequence's K/V when its pages could not be relocated (it takes its cached prefix back later). */
  private dropKv(seq: KvSequence): void {
    if (seq.state === 'preempted') return;
    this.releaseAll(seq.blockTable);
    seq.blockTable = [];
    seq.computed = 0;
    seq.treePages = 0;
    seq.node = this.cache.root;
    seq.state = 'preempted';
    this.counters.preemptions++;
  }

  /** Keeps at most `pages` leading pages of the sequence's cached tree path. */
  private cutTreePath(seq: KvSequence, pages: number): void {
    while (seq.treePages > pages) {
      seq.node = seq.node.parent!;
      seq.treePages--;
    }
  }

  /** A copy-on-write copy: queued for the runner, or made at once on the host bytes while offloaded. */
  private queueCopy(src: number, dst: number): void {
    if (this.host) this.host.copy(src, dst);
    else this.pages.queueCopy(src, dst);
  }

  private allocate(): number {
    const p = this.tryAllocate();
    if (p < 0) throw new Error(`${this.name} KV pool: allocation past the checked capacity`);
    return p;
  }

  /** A fresh page with one reference (a free one, else an evicted cached one); -1 when none is left. */
  private tryAllocate(): number {
    let p = this.pages.takeFree();
    if (p < 0) p = this.cache.evictOne();
    if (p >= 0) this.ref(p);
    return p;
  }

  private ref(p: number): void {
    if (this.pages.ref(p)) this.cache.referenced(p);
  }

  /** Drops one reference to each page, deepest first (so a cached prefix loses its tail first). */
  private releaseAll(pages: number[]): void {
    for (let i = pages.length - 1; i >= 0; i--) {
      const p = pages[i];
      if (this.pages.unref(p) && !this.cache.unreferenced(p)) this.pages.giveBack(p);
    }
  }

  /** Puts the sequence's newly completed pages into the prefix cache (or onto the identical cached ones). */
  private cacheFullPages(seq: KvSequence, tokens: ArrayLike<number>): void {
    while ((seq.treePages + 1) * this.pageSize <= seq.computed) {
      const i = seq.treePages;
      const own = seq.blockTable[i];
      const node = this.cache.insert(seq.node, tokens, own);
      if (node.page !== own) {
        // The same prefix is already cached in another page (K/V is a function of the tokens): share it.
        this.ref(node.page);
        seq.blockTable[i] = node.page;
        this.releaseAll([own]);
      }
      seq.node = node;
      seq.treePages++;
    }
  }
}

/** The node at depth pages - 1 on the path from the root to `node` (the root for 0). */
function ancestorAt(node: RadixNode, pages: number): RadixNode {
  let n = node;
  while (n.depth > pages - 1) n = n.parent!;
  return n;
}
