// Host-side bookkeeping of the paged KV arena: one arena of fixed-size pages holding two pools, the
// generator's and the verifier's. Each pool tracks sequences and their block tables, shares pages
// between sequences by reference count (fork costs no copy for full pages; a shared, partly filled
// last page is copied on write through the runner's copyPages), keeps the pages of finished prefixes
// cached in a radix tree until evicted (LRU), reuses them when a new sequence starts with the same
// tokens, and, when pages run out, evicts cached pages and then preempts whole sequences (their K/V is
// dropped and recomputed later). A GPU out-of-memory error never happens: the pool never hands out a
// page it does not have, and only a single sequence too long for the whole pool is an error.
//
// Usage per forward call: `append` the new tokens to each sequence, `schedule` the batch (allocates
// pages, copies on write, may preempt others), run the runner on the returned chunks, then `commit`.
// The search (src/search/search-kv.ts) drives the same pool through a second, lower-level front end
// whose sequences do not copy their tokens (the search keeps them on its beams and passes them in):
// `open`, `attachPrefix`, `forkAt`, `truncateTo`, `reserve`, `commitTokens`, `release`, `discard`. Both
// front ends share one implementation of pages, reference counts, the radix cache and eviction.
//
// Offloading (the memory planner's offload mode): a pool's K/V can move to host memory while the other
// pool uses the whole arena. Its bookkeeping stays as it was (page ids, counts, the radix tree), so the
// search can still fork, truncate and release its sequences between phases; copies it asks for meanwhile
// are made on the host bytes, and the bytes go back to the same page ids (or, if the pool's range shrank,
// relocated ones) when it is restored. Only forward calls need the pool on the device.
import { OutOfMemoryError } from '../errors.ts';
import type { SequenceChunk } from './types.ts';
import { RadixTree, type RadixNode } from './radix-tree.ts';

export type PoolName = 'generator' | 'verifier';

/** What a pool needs from its runner: the page copy for copy-on-write and relocation. */
export interface PageCopier {
  /** Copies page src to page dst for every pair; pairs never share a page. */
  copyPages(pairs: Array<[src: number, dst: number]>): Promise<void>;
}

/** Host <-> device transfer of whole pages of one pool's region (KV offloading to host memory). */
export interface PageIo {
  /** The pages' bytes, concatenated in the order given. */
  readPages(pages: number[]): Promise<Uint8Array>;
  /** Writes pages.length pages of bytes (concatenated, in order) to the given pages. */
  writePages(pages: number[], data: Uint8Array): Promise<void>;
}

export type SequenceState = 'live' | 'preempted' | 'freed';

/** One sequence (a beam, a prompt) in a pool. Read its fields; change it only through the pool. */
export class KvSequence {
  /** All tokens of the sequence: its K/V covers the first `computed`; the rest are pending. */
  readonly tokens: number[];
  computed = 0;
  /** Page ids: blockTable[i] holds positions [i * pageSize, (i + 1) * pageSize). */
  blockTable: number[] = [];
  state: SequenceState = 'live';
  /** Higher is kept longer under memory pressure (speculative beams: below 0). */
  priority: number;
  /** Radix node of page treePages - 1 (the root when 0): the cached path this sequence runs along. */
  node: RadixNode;
  /** Leading pages of the block table that are the cached tree pages of this sequence's tokens. */
  treePages = 0;
  /** Tokens whose K/V was dropped by a preemption and is not yet computed again. */
  lostTokens = 0;
  /** Length the last schedule() covers, until commit(). */
  scheduledTo = -1;
  /** Highest `computed` ever reached (caller-held sequences): tokens computed again below it are recomputed. */
  highWater = 0;

  /**
   * @param callerHeld the caller keeps the tokens (the search's front end): `tokens` stays empty and the
   *   block table may hold pages reserved beyond `computed`.
   */
  constructor(readonly id: number, readonly pool: PoolName, tokens: ArrayLike<number>, priority: number, root: RadixNode, readonly callerHeld = false) {
    this.tokens = Array.from(tokens);
    this.priority = priority;
    this.node = root;
  }

  get length(): number {
    return this.tokens.length;
  }

  /** The block table (the search's name for it). */
  get pages(): number[] {
    return this.blockTable;
  }

  /** Tokens whose K/V is not in the cache yet. */
  get pending(): number {
    return this.tokens.length - this.computed;
  }
}

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

export interface ScheduleResult {
  /** One chunk per scheduled sequence with pending tokens, in batch order; outputRows = its last row. */
  chunks: SequenceChunk[];
  scheduled: KvSequence[];
  /** Sequences that did not fit this time (possibly preempted); schedule them again later. */
  deferred: KvSequence[];
}

/** Free page ids, handed out lowest first (generator) or highest first (verifier), so that the two
 *  pools grow toward each other and a split can move without touching live pages. */
class FreePages {
  private heap: number[] = [];
  constructor(private readonly highFirst: boolean) {}

  get size(): number {
    return this.heap.length;
  }

  private before(a: number, b: number): boolean {
    return this.highFirst ? a > b : a < b;
  }

  push(p: number): void {
    const h = this.heap;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.before(h[i], h[up])) break;
      [h[i], h[up]] = [h[up], h[i]];
      i = up;
    }
  }

  pop(): number {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l], h[m])) m = l;
        if (r < h.length && this.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }

  reset(pages: number[]): void {
    this.heap = [];
    for (const p of pages) this.push(p);
  }

  values(): readonly number[] {
    return this.heap;
  }
}

/** One model's pages: page ids [lo, hi) of that model's KV region. */
export class KvPool {
  readonly tree: RadixTree;
  private readonly refCount: Int32Array;
  private readonly nodeOfPage: Array<RadixNode | undefined>;
  private readonly freeList: FreePages;
  private readonly live = new Set<KvSequence>();
  private nextId = 0;
  private lo = 0;
  private hi = 0;
  private copier: PageCopier | null = null;
  private readonly counters = {
    prefixHitTokens: 0, recomputedTokens: 0, evictions: 0, preemptions: 0, copyOnWriteCopies: 0, relocatedPages: 0, peakPagesInUse: 0, hostTransferBytes: 0,
  };
  /** While offloaded: the bytes of each page that holds K/V, by page id (the device pages are lent out). */
  private offloaded: Map<number, Uint8Array> | null = null;
  /** Host <-> device transfers of this pool's pages (offload mode). */
  private io: PageIo | null = null;
  private inUse = 0;
  /** Pages referenced by more than one sequence now, and the most at once since resetPeak. */
  private sharedNow = 0;
  private peakShared = 0;

  /**
   * @param regionPages page ids the model's runner can address (its KV region)
   * @param pageBytes bytes of one page of this model (pageSize * kvBytesPerToken)
   */
  constructor(readonly name: PoolName, readonly pageSize: number, readonly regionPages: number, readonly pageBytes: number, lo = 0, hi = regionPages) {
    if (!Number.isInteger(pageSize) || pageSize <= 0) throw new RangeError(`page size must be a positive integer, got ${pageSize}`);
    this.tree = new RadixTree(pageSize);
    this.refCount = new Int32Array(regionPages);
    this.nodeOfPage = new Array(regionPages);
    this.freeList = new FreePages(name === 'verifier');
    this.lo = lo;
    this.hi = hi;
    this.freeList.reset(range(lo, hi));
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
    return this.hi - this.lo;
  }

  get pageRange(): [lo: number, hi: number] {
    return [this.lo, this.hi];
  }

  get sequences(): ReadonlySet<KvSequence> {
    return this.live;
  }

  /** Pages a fresh sequence could get now: free ones plus cached ones nobody references. */
  get availablePages(): number {
    return this.freeList.size + this.tree.unreferencedCount;
  }

  referencesOf(page: number): number {
    return this.refCount[page];
  }

  isCached(page: number): boolean {
    return this.nodeOfPage[page] !== undefined;
  }

  // ---- sequences ------------------------------------------------------------------------------------

  /**
   * Starts a sequence of `tokens`; its longest cached prefix (whole pages, leaving at least one token
   * to compute so the caller gets an output) is reused at once: `seq.computed` tokens are prefix hits.
   */
  create(tokens: ArrayLike<number>, priority = 0): KvSequence {
    if (this.offloaded) throw new Error(`${this.name} KV pool is offloaded to host memory: restore it first`);
    const seq = new KvSequence(this.nextId++, this.name, tokens, priority, this.tree.root);
    this.live.add(seq);
    this.counters.prefixHitTokens += this.attachCachedPrefix(seq);
    return seq;
  }

  /** Adds tokens to the end of a sequence; their K/V is computed by the next schedule + forward. */
  append(seq: KvSequence, tokens: ArrayLike<number>): void {
    this.assertUsable(seq);
    for (let i = 0; i < tokens.length; i++) seq.tokens.push(tokens[i]);
  }

  /** `count` copies of a sequence sharing all its pages (bookkeeping only; copy-on-write later). */
  fork(seq: KvSequence, count: number): KvSequence[] {
    this.assertUsable(seq);
    if (seq.scheduledTo >= 0) throw new Error('kv pool: fork between schedule and commit');
    const children: KvSequence[] = [];
    for (let c = 0; c < count; c++) {
      const child = new KvSequence(this.nextId++, this.name, seq.tokens, seq.priority, seq.node);
      child.computed = seq.computed;
      child.blockTable = seq.blockTable.slice();
      child.treePages = seq.treePages;
      child.state = seq.state;
      child.lostTokens = seq.lostTokens;
      for (const p of child.blockTable) this.ref(p);
      this.live.add(child);
      children.push(child);
    }
    return children;
  }

  /** Cuts a sequence to its first `length` tokens (dropping speculative tokens, for example). */
  truncate(seq: KvSequence, length: number): void {
    this.assertUsable(seq);
    if (seq.scheduledTo >= 0) throw new Error('kv pool: truncate between schedule and commit');
    if (length < 0 || length > seq.tokens.length) throw new RangeError(`truncate to ${length} of a ${seq.tokens.length}-token sequence`);
    seq.tokens.length = length;
    seq.computed = Math.min(seq.computed, length);
    seq.lostTokens = Math.min(seq.lostTokens, length);
    const keep = Math.ceil(seq.computed / this.pageSize);
    this.releaseAll(seq.blockTable.splice(keep));
    const treePages = Math.min(seq.treePages, Math.floor(length / this.pageSize));
    while (seq.treePages > treePages) {
      seq.node = seq.node.parent!;
      seq.treePages--;
    }
  }

  /** Ends a sequence: its pages go back, those of cached prefixes stay in the tree until evicted. */
  free(seq: KvSequence): void {
    if (seq.state === 'freed') return;
    this.releaseAll(seq.blockTable);
    seq.blockTable = [];
    seq.state = 'freed';
    this.live.delete(seq);
  }

  /** Drops a sequence's K/V (keeping its tokens); the next schedule recomputes what the cache lost. */
  preempt(seq: KvSequence): void {
    this.assertUsable(seq);
    this.dropKv(seq);
  }

  /** preempt() without the front end's checks (a shrinking or offloaded pool preempts its own sequences). */
  private dropKv(seq: KvSequence): void {
    if (seq.state === 'preempted') return;
    seq.lostTokens = Math.max(seq.lostTokens, seq.computed);
    this.releaseAll(seq.blockTable);
    seq.blockTable = [];
    seq.computed = 0;
    seq.treePages = 0;
    seq.node = this.tree.root;
    seq.scheduledTo = -1;
    seq.state = 'preempted';
    this.counters.preemptions++;
  }

  /** Evicts up to `count` cached, unreferenced pages (least recently used first); returns how many. */
  evict(count: number): number {
    let n = 0;
    while (n < count) {
      const p = this.tree.evictLru();
      if (p < 0) break;
      this.nodeOfPage[p] = undefined;
      this.counters.evictions++;
      this.freeList.push(p);
      n++;
    }
    return n;
  }

  // ---- forward calls --------------------------------------------------------------------------------

  /**
   * Gives every sequence of the batch the pages for its pending tokens, in batch order: allocates,
   * copies shared partly filled pages on write, evicts cached pages and, if still short, preempts
   * sequences outside the batch (lowest priority, newest first) and then the batch's own tail.
   * At most `maxTokens` tokens go into the call (a long recompute is cut into chunks: the rest stays
   * pending). Throws OutOfMemoryError only when one sequence needs more pages than the whole pool.
   */
  async schedule(batch: KvSequence[], maxTokens = Infinity): Promise<ScheduleResult> {
    if (!(maxTokens >= 1)) throw new RangeError(`schedule: maxTokens must be at least 1, got ${maxTokens}`);
    let budget = maxTokens;
    const inBatch = new Set(batch);
    const scheduled: KvSequence[] = [];
    const deferred: KvSequence[] = [];
    const preemptedTail = new Set<KvSequence>();
    const copies: Array<[number, number]> = [];
    const releaseAfterCopy: number[] = [];
    let full = false;
    for (let i = 0; i < batch.length; i++) {
      const seq = batch[i];
      this.assertUsable(seq);
      if (full || preemptedTail.has(seq) || budget === 0) {
        deferred.push(seq);
        continue;
      }
      if (seq.state === 'preempted') this.resume(seq);
      if (seq.pending === 0) continue;
      const target = seq.computed + Math.min(seq.pending, budget);
      const keep = new Set([...scheduled, seq]);
      while (this.availablePages < this.pagesNeeded(seq, target)) {
        const victim = this.pickVictim(inBatch, batch, i, keep);
        if (!victim) break;
        if (inBatch.has(victim)) preemptedTail.add(victim);
        this.preempt(victim);
      }
      if (this.availablePages < this.pagesNeeded(seq, target)) {
        if (scheduled.length === 0) {
          throw new OutOfMemoryError(
            `${this.name} KV pool: one sequence of ${target} tokens needs ${Math.ceil(target / this.pageSize)} pages of ${this.pageSize} tokens, the pool has ${this.capacityPages}`,
          );
        }
        full = true;
        deferred.push(seq);
        continue;
      }
      this.growFor(seq, target, copies, releaseAfterCopy);
      seq.scheduledTo = target;
      budget -= target - seq.computed;
      scheduled.push(seq);
    }
    if (copies.length > 0) {
      if (!this.copier) throw new Error(`${this.name} KV pool: copy-on-write needs attach(runner) first`);
      await this.copier.copyPages(copies);
      this.counters.copyOnWriteCopies += copies.length;
    }
    this.releaseAll(releaseAfterCopy);
    const chunks: SequenceChunk[] = scheduled.map((s) => ({
      blockTable: s.blockTable.slice(),
      start: s.computed,
      tokens: s.tokens.slice(s.computed, s.scheduledTo),
      outputRows: [s.scheduledTo - s.computed - 1],
    }));
    return { chunks, scheduled, deferred };
  }

  /** Marks the scheduled tokens as computed (after the forward call) and caches their full pages. */
  commit(seqs: Iterable<KvSequence>): void {
    for (const seq of seqs) {
      if (seq.state !== 'live' || seq.scheduledTo < 0) continue;
      seq.computed = seq.scheduledTo;
      seq.scheduledTo = -1;
      this.cacheFullPages(seq);
    }
  }

  // ---- the search's front end: sequences whose tokens the caller holds ------------------------------
  //
  // The search reserves pages itself, builds its own chunks and commits what it computed. Copies for
  // copy-on-write are queued (takeCopies) and run by the caller before its next forward call.

  /** Page copies (copy-on-write) the caller must run before its next forward call on this pool. */
  private pendingCopies: Array<[number, number]> = [];

  /** An empty sequence whose tokens the caller keeps (pass them to attach and commitTokens). */
  open(priority = 0): KvSequence {
    const seq = new KvSequence(this.nextId++, this.name, [], priority, this.tree.root, true);
    this.live.add(seq);
    return seq;
  }

  /** Attaches the longest cached prefix of `tokens` (whole pages, at most limit - 1 tokens) to a sequence holding no pages. */
  attachPrefix(seq: KvSequence, tokens: ArrayLike<number>, limit = tokens.length): void {
    if (seq.blockTable.length > 0) throw new Error('attachPrefix: sequence already holds pages');
    this.track(seq);
    seq.lostTokens = 0;
    this.counters.prefixHitTokens += this.attachCachedPrefix(seq, tokens, Math.floor(Math.max(0, limit - 1) / this.pageSize));
  }

  /** Tokens of `tokens` (whole pages, at most limit - 1) a sequence holding no pages would find cached now. */
  cachedPrefix(tokens: ArrayLike<number>, limit = tokens.length): number {
    return this.tree.match(tokens, Math.floor(Math.max(0, limit - 1) / this.pageSize)).length * this.pageSize;
  }

  /** A new caller-held sequence sharing `src`'s first `length` tokens of K/V (full pages shared, the partial one copied). */
  forkAt(src: KvSequence, length: number): KvSequence {
    const keep = Math.min(length, src.computed);
    const full = Math.floor(keep / this.pageSize);
    const child = this.open(src.priority);
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
    if (this.refCount[last] === 1 && this.nodeOfPage[last] === undefined) return;
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
    return need <= this.freeList.size && this.reserve(seq, length);
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
      const node = this.nodeOfPage[page];
      const soleLeaf = this.refCount[page] === 1 && node !== undefined && node.children.size === 0;
      this.releaseAll([page]);
      if (soleLeaf && this.nodeOfPage[page] === node) this.dropCachedSubtree(node);
    }
    this.dropSequencePages(seq);
  }

  /** A copy-on-write copy: queued for the runner, or made at once on the host bytes while offloaded. */
  private queueCopy(src: number, dst: number): void {
    if (!this.offloaded) {
      this.pendingCopies.push([src, dst]);
      return;
    }
    const bytes = this.offloaded.get(src);
    if (bytes) this.offloaded.set(dst, bytes.slice());
  }

  /** Takes the copies to run (runner.copyPages) before the next forward call. */
  takeCopies(): Array<[number, number]> {
    const c = this.pendingCopies;
    this.pendingCopies = [];
    return c;
  }

  /** Counts a preemption the caller made by releasing a sequence to make room. */
  countPreemption(): void {
    this.counters.preemptions++;
  }

  /** Pages free now without evicting anything cached. */
  get freePageCount(): number {
    return this.freeList.size;
  }

  /** Pages referenced by at least one sequence. */
  get pagesReferenced(): number {
    return this.inUse;
  }

  /** Starts a new peak measurement (peakPagesInUse, peakSharedPages) from the pages in use now. */
  resetPeak(): void {
    this.counters.peakPagesInUse = this.inUse;
    this.peakShared = this.sharedNow;
  }

  private track(seq: KvSequence): void {
    if (seq.pool !== this.name) throw new Error(`kv pool ${this.name}: sequence ${seq.id} belongs to the ${seq.pool} pool`);
    if (seq.state !== 'live') seq.state = 'live';
    this.live.add(seq);
  }

  private dropSequencePages(seq: KvSequence): void {
    seq.blockTable = [];
    seq.treePages = 0;
    seq.node = this.tree.root;
    seq.computed = 0;
    seq.scheduledTo = -1;
    seq.state = 'freed';
    this.live.delete(seq);
  }

  /** Keeps at most `pages` leading pages of the sequence's cached tree path. */
  private cutTreePath(seq: KvSequence, pages: number): void {
    while (seq.treePages > pages) {
      seq.node = seq.node.parent!;
      seq.treePages--;
    }
  }

  // ---- pool size ------------------------------------------------------------------------------------

  /**
   * Moves the pool to page ids [lo, hi) (between iterations, nothing scheduled). Free and cached pages
   * outside it are dropped; live pages outside it are copied to free pages inside it, or, when none is
   * left, their sequences are preempted.
   */
  async setRange(lo: number, hi: number): Promise<void> {
    // While offloaded the same moves happen on the host bytes (restoreFromHost writes them back).
    if (lo < 0 || hi > this.regionPages || lo > hi) throw new RangeError(`${this.name} KV pool: page range [${lo}, ${hi}) outside [0, ${this.regionPages})`);
    if (this.live.size > 0 && [...this.live].some((q) => q.scheduledTo >= 0)) throw new Error(`${this.name} KV pool: resize between schedule and commit`);
    if (this.pendingCopies.length > 0) throw new Error(`${this.name} KV pool: resize with copy-on-write copies not yet run (takeCopies first)`);
    const inside = (p: number) => p >= lo && p < hi;
    this.lo = lo;
    this.hi = hi;
    // Cached pages outside go first (with their unreferenced subtrees, ancestors before descendants).
    for (const node of [...this.tree.walk()]) {
      if (this.nodeOfPage[node.page] === node && !inside(node.page) && this.tree.isUnreferenced(node)) this.dropCachedSubtree(node);
    }
    this.freeList.reset(range(lo, hi).filter((p) => this.refCount[p] === 0 && this.nodeOfPage[p] === undefined));
    // Live pages outside: copy each to a page inside; when none is left, preempt the sequences holding it.
    const moved = new Map<number, number>();
    const outside = new Set<number>();
    for (const q of this.live) for (const p of q.blockTable) if (!inside(p)) outside.add(p);
    for (const p of outside) {
      if (this.refCount[p] === 0) continue; // dropped by a preemption above
      const dst = this.freeList.size > 0 ? this.freeList.pop() : this.evictOne();
      if (dst < 0) {
        for (const q of [...this.live]) if (q.blockTable.includes(p)) this.dropKv(q);
        continue;
      }
      moved.set(p, dst);
    }
    const copies = [...moved].filter(([src]) => this.refCount[src] > 0);
    if (copies.length > 0 && this.offloaded) {
      const host = this.offloaded;
      for (const [src, dst] of copies) {
        const bytes = host.get(src);
        host.delete(src);
        if (bytes) host.set(dst, bytes);
      }
    } else if (copies.length > 0) {
      if (!this.copier) throw new Error(`${this.name} KV pool: relocation needs attach(runner) first`);
      await this.copier.copyPages(copies);
    }
    for (const [src, dst] of moved) {
      if (this.refCount[src] === 0) {
        this.freeList.push(dst); // its sequences were preempted after the page was picked
        continue;
      }
      this.refCount[dst] = this.refCount[src];
      this.refCount[src] = 0;
      const node = this.nodeOfPage[src];
      if (node) {
        node.page = dst;
        this.nodeOfPage[dst] = node;
        this.nodeOfPage[src] = undefined;
      }
    }
    if (copies.length > 0) {
      for (const q of this.live) q.blockTable = q.blockTable.map((p) => (this.refCount[p] === 0 && moved.has(p) ? moved.get(p)! : p));
      this.counters.relocatedPages += copies.length;
    }
    this.recountInUse();
  }

  // ---- offloading to host memory --------------------------------------------------------------------

  get isOffloaded(): boolean {
    return this.offloaded !== null;
  }

  /** Pages whose K/V waits in host memory (0 when resident). */
  get offloadedPages(): number {
    return this.offloaded ? this.capacityPages - this.freeList.size - this.tree.unreferencedCount : 0;
  }

  /**
   * Moves the K/V of every referenced page to host memory; cached pages nobody references are evicted
   * rather than moved. The bookkeeping stays (sequences, block tables, counts), and the caller-held
   * front end keeps working on it, but no forward call may run until restoreFromHost(). The device
   * pages may be used by the other pool meanwhile. Returns the bytes moved.
   */
  async offloadToHost(io: PageIo | null = this.io): Promise<number> {
    if (this.offloaded) return 0;
    if (!io) throw new Error(`${this.name} KV pool: offloading needs attachIo(...) first`);
    if ([...this.live].some((q) => q.scheduledTo >= 0)) throw new Error(`${this.name} KV pool: offload between schedule and commit`);
    if (this.pendingCopies.length > 0) throw new Error(`${this.name} KV pool: offload with copy-on-write copies not yet run (takeCopies first)`);
    this.evict(Infinity);
    const pages: number[] = [];
    for (let p = this.lo; p < this.hi; p++) if (this.refCount[p] > 0) pages.push(p);
    const data = pages.length > 0 ? await io.readPages(pages) : new Uint8Array(0);
    const each = pages.length > 0 ? data.byteLength / pages.length : 0;
    this.offloaded = new Map(pages.map((p, i) => [p, data.subarray(i * each, (i + 1) * each)]));
    this.counters.hostTransferBytes += data.byteLength;
    return data.byteLength;
  }

  /**
   * Writes the offloaded K/V back to the device, at the page ids the bookkeeping holds now (the pool's
   * current range: a shrink while offloaded relocated them on the host). Returns the bytes moved.
   */
  async restoreFromHost(io: PageIo | null = this.io): Promise<number> {
    const host = this.offloaded;
    if (!host) return 0;
    if (!io) throw new Error(`${this.name} KV pool: restoring needs attachIo(...) first`);
    const pages: number[] = [];
    const parts: Uint8Array[] = [];
    for (const [p, bytes] of host) {
      // Pages freed while offloaded are skipped; pages reserved meanwhile hold nothing yet.
      if (this.refCount[p] === 0 && this.nodeOfPage[p] === undefined) continue;
      pages.push(p);
      parts.push(bytes);
    }
    const data = new Uint8Array(parts.reduce((a, b) => a + b.byteLength, 0));
    let at = 0;
    for (const b of parts) {
      data.set(b, at);
      at += b.byteLength;
    }
    if (pages.length > 0) await io.writePages(pages, data);
    this.offloaded = null;
    this.counters.hostTransferBytes += data.byteLength;
    return data.byteLength;
  }

  // ---- accounting -----------------------------------------------------------------------------------

  stats(): KvPoolStats {
    return {
      pool: this.name,
      capacityPages: this.capacityPages,
      pagesInUse: this.inUse,
      cachedPages: this.tree.unreferencedCount,
      freePages: this.freeList.size,
      sharedPages: this.sharedNow,
      peakSharedPages: this.peakShared,
      liveSequences: this.live.size,
      offloaded: this.offloaded !== null,
      ...this.counters,
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
      const expectPages = Math.ceil((s.scheduledTo >= 0 ? s.scheduledTo : s.computed) / this.pageSize);
      if (s.callerHeld ? s.blockTable.length < Math.ceil(s.computed / this.pageSize) : s.blockTable.length !== expectPages) throw new Error(`sequence ${s.id}: ${s.blockTable.length} pages for ${s.computed} tokens`);
      let n = s.node;
      for (let i = s.treePages - 1; i >= 0; i--, n = n.parent!) {
        if (n.depth !== i || s.blockTable[i] !== n.page) throw new Error(`sequence ${s.id}: page ${i} is not its cached tree page`);
      }
      if (n !== this.tree.root) throw new Error(`sequence ${s.id}: tree path does not reach the root`);
    }
    let used = 0;
    for (let p = 0; p < this.regionPages; p++) {
      if (refs[p] !== this.refCount[p]) throw new Error(`page ${p}: reference count ${this.refCount[p]}, referenced ${refs[p]} times`);
      const inside = p >= this.lo && p < this.hi;
      if (!inside && (refs[p] > 0 || this.nodeOfPage[p])) throw new Error(`page ${p} used outside the pool's range`);
      if (refs[p] > 0) used++;
    }
    if (used !== this.inUse) throw new Error(`pages in use ${this.inUse}, counted ${used}`);
    let shared = 0;
    for (let p = 0; p < this.regionPages; p++) if (refs[p] > 1) shared++;
    if (shared !== this.sharedNow) throw new Error(`shared pages ${this.sharedNow}, counted ${shared}`);
    let cached = 0;
    for (const node of this.tree.walk()) {
      if (this.nodeOfPage[node.page] !== node) throw new Error(`tree page ${node.page} not mapped back`);
      if (this.tree.isUnreferenced(node) !== (this.refCount[node.page] === 0)) throw new Error(`tree page ${node.page}: LRU state disagrees with its count`);
      if (this.refCount[node.page] === 0) {
        cached++;
        for (const d of this.tree.walk(node)) if (this.refCount[d.page] > 0) throw new Error(`page ${d.page} referenced under unreferenced ${node.page}`);
      }
    }
    for (const p of this.freeList.values()) {
      if (this.refCount[p] !== 0 || this.nodeOfPage[p] || p < this.lo || p >= this.hi) throw new Error(`free page ${p} is in use`);
    }
    if (this.freeList.size + used + cached !== this.capacityPages) {
      throw new Error(`free ${this.freeList.size} + used ${used} + cached ${cached} != capacity ${this.capacityPages}`);
    }
  }

  // ---- internals ------------------------------------------------------------------------------------

  private assertUsable(seq: KvSequence): void {
    if (this.offloaded) throw new Error(`${this.name} KV pool is offloaded to host memory: restore it first`);
    if (seq.pool !== this.name || !this.live.has(seq)) throw new Error(`kv pool ${this.name}: sequence ${seq.id} is ${seq.state} or not in this pool`);
  }

  /** Takes the cached pages of the sequence's longest prefix; returns the tokens reused. */
  private attachCachedPrefix(seq: KvSequence, tokens: ArrayLike<number> = seq.tokens, maxPages = Math.floor((tokens.length - 1) / this.pageSize)): number {
    const path = this.tree.match(tokens, maxPages);
    for (const node of path) {
      this.ref(node.page);
      seq.blockTable.push(node.page);
    }
    if (path.length > 0) seq.node = path[path.length - 1];
    seq.treePages = path.length;
    seq.computed = path.length * this.pageSize;
    return seq.computed;
  }

  /** A preempted sequence comes back: cached prefix first, the rest of what it lost is recomputed. */
  private resume(seq: KvSequence): void {
    seq.state = 'live';
    const hit = this.attachCachedPrefix(seq);
    this.counters.prefixHitTokens += Math.min(hit, seq.lostTokens);
    this.counters.recomputedTokens += Math.max(0, seq.lostTokens - hit);
    seq.lostTokens = 0;
  }

  private needsCopyOnWrite(seq: KvSequence): boolean {
    if (seq.computed % this.pageSize === 0) return false;
    const last = seq.blockTable[seq.blockTable.length - 1];
    return this.refCount[last] > 1 || this.nodeOfPage[last] !== undefined;
  }

  private pagesNeeded(seq: KvSequence, upTo: number): number {
    const fresh = Math.max(0, Math.ceil(upTo / this.pageSize) - seq.blockTable.length);
    return fresh + (this.needsCopyOnWrite(seq) ? 1 : 0);
  }

  private growFor(seq: KvSequence, upTo: number, copies: Array<[number, number]>, releaseAfterCopy: number[]): void {
    if (this.needsCopyOnWrite(seq)) {
      const last = seq.blockTable.length - 1;
      const dst = this.allocate();
      copies.push([seq.blockTable[last], dst]);
      // The source keeps this sequence's reference until the copy has run: nobody may reuse it first.
      releaseAfterCopy.push(seq.blockTable[last]);
      seq.blockTable[last] = dst;
    }
    const total = Math.ceil(upTo / this.pageSize);
    while (seq.blockTable.length < total) seq.blockTable.push(this.allocate());
  }

  /**
   * Lowest priority first, newest first among equals: sequences outside the batch, then batch members
   * with nothing to compute in this call, then the batch's tail (from the end). Never `keep`.
   */
  private pickVictim(inBatch: Set<KvSequence>, batch: KvSequence[], index: number, keep: Set<KvSequence>): KvSequence | null {
    const holds = (s: KvSequence) => s.state === 'live' && s.blockTable.length > 0 && !keep.has(s);
    let best: KvSequence | null = null;
    for (const s of this.live) {
      if (inBatch.has(s) || !holds(s)) continue;
      if (!best || s.priority < best.priority || (s.priority === best.priority && s.id > best.id)) best = s;
    }
    if (best) return best;
    for (let j = 0; j < index; j++) if (holds(batch[j]) && batch[j].pending === 0) return batch[j];
    for (let j = batch.length - 1; j > index; j--) if (holds(batch[j])) return batch[j];
    return null;
  }

  private allocate(): number {
    const p = this.tryAllocate();
    if (p < 0) throw new Error(`${this.name} KV pool: allocation past the checked capacity`);
    return p;
  }

  /** A fresh page with one reference (a free one, else an evicted cached one); -1 when none is left. */
  private tryAllocate(): number {
    const p = this.freeList.size > 0 ? this.freeList.pop() : this.evictOne();
    if (p >= 0) this.ref(p);
    return p;
  }

  private evictOne(): number {
    const p = this.tree.evictLru();
    if (p >= 0) {
      this.nodeOfPage[p] = undefined;
      this.counters.evictions++;
    }
    return p;
  }

  private ref(p: number): void {
    if (this.refCount[p] === 1 && ++this.sharedNow > this.peakShared) this.peakShared = this.sharedNow;
    if (this.refCount[p]++ === 0) {
      this.inUse++;
      this.counters.peakPagesInUse = Math.max(this.counters.peakPagesInUse, this.inUse);
      const node = this.nodeOfPage[p];
      if (node) this.tree.setReferenced(node, true);
    }
  }

  /** Drops one reference to each page, deepest first (so a cached prefix loses its tail first). */
  private releaseAll(pages: number[]): void {
    for (let i = pages.length - 1; i >= 0; i--) {
      const p = pages[i];
      if (this.refCount[p] === 2) this.sharedNow--;
      if (--this.refCount[p] > 0) continue;
      this.inUse--;
      const node = this.nodeOfPage[p];
      const inside = p >= this.lo && p < this.hi;
      if (node) {
        this.tree.setReferenced(node, false);
        if (!inside) this.dropCachedSubtree(node); // the pool shrank past it
      } else if (inside) this.freeList.push(p);
    }
  }

  /** Removes an unreferenced cached page and its (unreferenced) descendants; frees those in range. */
  private dropCachedSubtree(node: RadixNode): void {
    for (const p of this.tree.removeSubtree(node)) {
      this.nodeOfPage[p] = undefined;
      if (p >= this.lo && p < this.hi) this.freeList.push(p);
    }
  }

  /** Puts the sequence's newly completed pages into the radix tree (or onto the identical cached ones). */
  private cacheFullPages(seq: KvSequence, tokens: ArrayLike<number> = seq.tokens): void {
    while ((seq.treePages + 1) * this.pageSize <= seq.computed) {
      const i = seq.treePages;
      const own = seq.blockTable[i];
      const node = this.tree.insert(seq.node, tokens, own);
      if (node.page !== own) {
        // The same prefix is already cached in another page (K/V is a function of the tokens): share it.
        this.ref(node.page);
        seq.blockTable[i] = node.page;
        this.releaseAll([own]);
      } else {
        this.nodeOfPage[own] = node;
      }
      seq.node = node;
      seq.treePages++;
    }
  }

  private recountInUse(): void {
    let used = 0;
    for (let p = 0; p < this.regionPages; p++) if (this.refCount[p] > 0) used++;
    this.inUse = used;
  }
}

/** The node at depth pages - 1 on the path from the root to `node` (the root for 0). */
function ancestorAt(node: RadixNode, pages: number): RadixNode {
  let n = node;
  while (n.depth > pages - 1) n = n.parent!;
  return n;
}

function range(lo: number, hi: number): number[] {
  return Array.from({ length: Math.max(0, hi - lo) }, (_, i) => lo + i);
}

// ---- the arena: two pools in one address space --------------------------------------------------------

export interface KvRegion {
  /** Byte offset of page 0 of this model's region inside the arena buffer. */
  offsetBytes: number;
  /** Page ids the region covers (the runner's numPages). */
  numPages: number;
  pageBytes: number;
}

export interface KvArenaOptions {
  /** Bytes of the arena (both pools). */
  totalBytes: number;
  /** Tokens per page (16 by default). */
  pageSize?: number;
  generatorPageBytes: number;
  verifierPageBytes: number;
  /** The generator's pages at start; the verifier gets the rest. Default: half the bytes each. */
  generatorPages?: number;
  /** Largest region one runner may bind (maxStorageBufferBindingSize); default: the whole arena. */
  maxRegionBytes?: number;
  /** Alignment of a region's offset (minStorageBufferOffsetAlignment, 256 in WebGPU). */
  offsetAlignment?: number;
  /**
   * Two buffers instead of one (when the arena exceeds the adapter's maxBufferSize): the generator's
   * region is its own buffer of this many bytes, the verifier's the rest. Splits then move only
   * within each buffer.
   */
  separateGeneratorBytes?: number;
}

/**
 * Both pools in one byte range: generator page p at byte p * generatorPageBytes (from the start),
 * verifier page p at verifierRegion.offsetBytes + p * verifierPageBytes, with the verifier using its
 * highest ids. The pools grow toward each other, so a new split moves the boundary through free pages
 * and copies live data only when a shrinking pool's pages sit beyond it.
 */
export class KvArena {
  readonly generator: KvPool;
  readonly verifier: KvPool;
  readonly generatorRegion: KvRegion;
  readonly verifierRegion: KvRegion;
  readonly pageSize: number;

  constructor(readonly options: KvArenaOptions) {
    const { totalBytes, generatorPageBytes: gpb, verifierPageBytes: vpb } = options;
    this.pageSize = options.pageSize ?? 16;
    if (!(totalBytes > 0) || !(gpb > 0) || !(vpb > 0)) throw new RangeError('KV arena: sizes must be positive');
    const maxRegion = Math.min(totalBytes, options.maxRegionBytes ?? totalBytes);
    const align = options.offsetAlignment ?? 256;
    const sep = options.separateGeneratorBytes;
    if (sep !== undefined) {
      this.generatorRegion = { offsetBytes: 0, numPages: Math.floor(Math.min(sep, maxRegion) / gpb), pageBytes: gpb };
      this.verifierRegion = { offsetBytes: 0, numPages: Math.floor(Math.min(totalBytes - sep, maxRegion) / vpb), pageBytes: vpb };
    } else {
      this.generatorRegion = { offsetBytes: 0, numPages: Math.floor(maxRegion / gpb), pageBytes: gpb };
      const vOffset = Math.ceil(Math.max(0, totalBytes - maxRegion) / align) * align;
      this.verifierRegion = { offsetBytes: vOffset, numPages: Math.floor((totalBytes - vOffset) / vpb), pageBytes: vpb };
    }
    if (this.generatorRegion.numPages === 0 && this.verifierRegion.numPages === 0) {
      throw new OutOfMemoryError(`KV arena of ${totalBytes} bytes holds no page of ${Math.min(gpb, vpb)} bytes`);
    }
    const [g, v] = this.rangesFor(options.generatorPages ?? Math.floor(totalBytes / 2 / gpb));
    this.generator = new KvPool('generator', this.pageSize, this.generatorRegion.numPages, gpb, g[0], g[1]);
    this.verifier = new KvPool('verifier', this.pageSize, this.verifierRegion.numPages, vpb, v[0], v[1]);
  }

  pool(name: PoolName): KvPool {
    return name === 'generator' ? this.generator : this.verifier;
  }

  region(name: PoolName): KvRegion {
    return name === 'generator' ? this.generatorRegion : this.verifierRegion;
  }

  /** Most generator pages a split can give (the verifier then gets what is left, maybe nothing). */
  get maxGeneratorPages(): number {
    return Math.min(this.generatorRegion.numPages, Math.floor(this.options.totalBytes / this.generatorRegion.pageBytes));
  }

  /** The verifier pages that fit beside `generatorPages` generator pages. */
  verifierPagesFor(generatorPages: number): number {
    const [, v] = this.rangesFor(generatorPages);
    return v[1] - v[0];
  }

  /** The most generator pages that leave `verifierPages` verifier pages (or as many as fit beside none). */
  generatorPagesBeside(verifierPages: number): number {
    let lo = 0;
    let hi = this.maxGeneratorPages;
    if (this.verifierPagesFor(0) < verifierPages) return 0;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.verifierPagesFor(mid) >= verifierPages) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Page ranges of both pools for a split, with no byte of one inside the other. */
  private rangesFor(generatorPages: number): [[number, number], [number, number]] {
    const g = Math.max(0, Math.min(Math.floor(generatorPages), this.maxGeneratorPages));
    const genEnd = g * this.generatorRegion.pageBytes;
    const vr = this.verifierRegion;
    if (this.options.separateGeneratorBytes !== undefined) {
      const vPages = Math.min(vr.numPages, Math.floor((this.options.totalBytes - genEnd) / vr.pageBytes));
      return [[0, g], [vr.numPages - vPages, vr.numPages]];
    }
    const vLo = Math.min(vr.numPages, Math.max(0, Math.ceil((genEnd - vr.offsetBytes) / vr.pageBytes)));
    return [[0, g], [vLo, vr.numPages]];
  }

  /**
   * Re-splits the arena between iterations: the shrinking pool moves first, then the growing one. In
   * offload mode this leaves it: both pools move into their ranges (the offloaded one on its host
   * bytes), then the offloaded one is written back, so nothing it restores lands on a live page.
   */
  async setSplit(generatorPages: number, io?: Partial<Record<PoolName, PageIo>>): Promise<void> {
    const [g, v] = this.rangesFor(generatorPages);
    if (g[1] < this.generator.capacityPages) {
      await this.generator.setRange(g[0], g[1]);
      await this.verifier.setRange(v[0], v[1]);
    } else {
      await this.verifier.setRange(v[0], v[1]);
      await this.generator.setRange(g[0], g[1]);
    }
    await this.generator.restoreFromHost(io?.generator);
    await this.verifier.restoreFromHost(io?.verifier);
  }

  /** Offload mode: one pool is on the device with the whole arena, the other's K/V in host memory. */
  get offloading(): boolean {
    return this.generator.isOffloaded || this.verifier.isOffloaded;
  }

  /** The generator's pages of an even split of the bytes (the static split). */
  get evenGeneratorPages(): number {
    return Math.min(this.maxGeneratorPages, Math.floor(this.options.totalBytes / 2 / this.generatorRegion.pageBytes));
  }

  /**
   * Offload mode: makes `name` the only pool on the device. The other pool's K/V goes to host memory
   * (its bookkeeping and range stay, on pages now lent out), `name` gets the whole arena, and its own
   * K/V comes back if it was offloaded. Returns bytes moved. Pools use their attached PageIo by default.
   */
  async activate(name: PoolName, io?: Partial<Record<PoolName, PageIo>>): Promise<number> {
    const other: PoolName = name === 'generator' ? 'verifier' : 'generator';
    let bytes = await this.pool(other).offloadToHost(io?.[other]);
    const [g, v] = this.rangesFor(name === 'generator' ? this.maxGeneratorPages : 0);
    const [lo, hi] = name === 'generator' ? g : v;
    await this.pool(name).setRange(lo, hi);
    bytes += await this.pool(name).restoreFromHost(io?.[name]);
    return bytes;
  }

  /** Leaves offload mode: both pools resident with the given split (pages that no longer fit are relocated or preempted). */
  async share(generatorPages: number, io?: Partial<Record<PoolName, PageIo>>): Promise<number> {
    const before = this.generator.stats().hostTransferBytes + this.verifier.stats().hostTransferBytes;
    await this.setSplit(generatorPages, io);
    return this.generator.stats().hostTransferBytes + this.verifier.stats().hostTransferBytes - before;
  }

  /** Device bytes the resident pools' capacities take (never above totalBytes; an offloaded pool takes none). */
  get committedBytes(): number {
    const g = this.generator.isOffloaded ? 0 : this.generator.capacityPages * this.generatorRegion.pageBytes;
    const v = this.verifier.isOffloaded ? 0 : this.verifier.capacityPages * this.verifierRegion.pageBytes;
    return g + v;
  }

  stats(): { generator: KvPoolStats; verifier: KvPoolStats } {
    return { generator: this.generator.stats(), verifier: this.verifier.stats() };
  }
}
