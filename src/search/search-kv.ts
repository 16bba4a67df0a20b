// The search's view of one model's KV pool: block tables for beams that fork, grow, get truncated and
// are released every iteration. It is a pool of the KV arena (runtime/kv-pool.ts's KvPool and
// its sequence API), which does all the paging: full pages are shared by reference count and
// cached in the radix tree after their sequences let go, so a sibling, a preempted beam coming back or
// the next iteration finds its prefix again; a partly filled page is copied on write; when pages run
// out, unreferenced cached pages are evicted least-recently-used first, and if that is not enough the
// caller (the generation engine) preempts a sequence and recomputes it later. Capacity changes go
// through the arena's split (KvArena.setSplit), or, for a pool without an arena, its page range.
import { KvPool, type KvPoolStats } from '../runtime/kv-pool.ts';
import type { KvArena } from '../runtime/kv-arena.ts';
import type { KvSequence, PoolName } from '../runtime/kv-sequence.ts';
import { OptionError } from '../errors.ts';

/** One sequence's KV: its pages (`pages`) and how many leading tokens have K/V in them (`computed`). */
export type KvSeq = KvSequence;

export class SearchKvPool {
  /** The arena's pool doing the paging. */
  readonly kv: KvPool;
  /** The arena both pools share, when there is one (capacity changes go through its split). */
  readonly arena: KvArena | null;

  /**
   * A pool of `numPages` pages on its own (the runner addresses them all; `capacity` of them usable),
   * or one of an arena's two pools.
   */
  constructor(source: number | { arena: KvArena; name: PoolName }, pageSize?: number, capacity?: number, name: PoolName = 'generator') {
    if (typeof source === 'number') {
      if (!Number.isInteger(source) || source <= 0) throw new OptionError(`KV pool needs a positive page count, got ${source}`);
      const cap = Math.max(1, Math.min(capacity ?? source, source));
      const [lo, hi] = name === 'generator' ? [0, cap] : [source - cap, source];
      this.kv = new KvPool(name, pageSize ?? 16, source, 1, lo, hi);
      this.arena = null;
    } else {
      this.kv = source.arena.pool(source.name);
      this.arena = source.arena;
    }
  }

  get pageSize(): number {
    return this.kv.pageSize;
  }

  /** Page ids the runner addresses. */
  get numPages(): number {
    return this.kv.regionPages;
  }

  /** The pool's accounting (counters cumulative over the pool's life; peaks since resetPeak). */
  get stats(): KvPoolStats {
    return this.kv.stats();
  }

  newSeq(): KvSeq {
    return this.kv.open();
  }

  /** Pages held by sequences or cached (not free). */
  get pagesInUse(): number {
    return this.kv.capacityPages - this.kv.freePageCount;
  }

  /** Pages referenced by at least one sequence. */
  get pagesReferenced(): number {
    return this.kv.pagesReferenced;
  }

  get capacity(): number {
    return this.kv.capacityPages;
  }

  /**
   * Changes how many pages this pool may use. In an arena this moves the split (the other pool gets
   * what is left, so the budget is never exceeded); alone, the pool's page range. Cached pages beyond
   * it are dropped and live ones relocated (through the attached runner's copyPages) or preempted, so
   * no more pages than the new capacity stay in use. Run pending copies (takeCopies) first.
   */
  async setCapacity(pages: number): Promise<void> {
    if (this.arena) {
      await this.arena.setSplit(this.kv.name === 'generator' ? pages : this.arena.generatorPagesBeside(pages));
      return;
    }
    const cap = Math.max(1, Math.min(Math.floor(pages), this.kv.regionPages));
    await (this.kv.name === 'generator' ? this.kv.setRange(0, cap) : this.kv.setRange(this.kv.regionPages - cap, this.kv.regionPages));
  }

  /** Pages a sequence could still obtain: free ones plus evictable cached ones. */
  get available(): number {
    return this.kv.availablePages;
  }

  /** Pages free without evicting anything cached. */
  get freePages(): number {
    return this.kv.freePageCount;
  }

  /** Attaches the longest cached prefix of `tokens` (whole pages, at most `limit` - 1 tokens) to a sequence holding no pages. */
  attach(seq: KvSeq, tokens: ArrayLike<number>, limit = tokens.length): void {
    this.kv.attachPrefix(seq, tokens, limit);
  }

  /** Tokens of `tokens` (whole pages, at most limit - 1) a sequence holding no pages would find cached now. */
  cachedPrefix(tokens: ArrayLike<number>, limit = tokens.length): number {
    return this.kv.cachedPrefix(tokens, limit);
  }

  /** A new sequence sharing `src`'s first `length` tokens of K/V (full pages shared, the partial one copied). */
  fork(src: KvSeq, length: number): KvSeq {
    return this.kv.forkAt(src, length);
  }

  /** Drops K/V from position `length` on; a kept, shared or cached partial page is copied first. */
  truncate(seq: KvSeq, length: number): void {
    this.kv.truncateTo(seq, length);
  }

  /** Like reserve, but only from free pages: never evicts a cached prefix (speculative work). */
  reserveFree(seq: KvSeq, length: number): boolean {
    return this.kv.reserveFree(seq, length);
  }

  /** Makes room for positions [0, length); false (nothing left half-done) when the pool cannot. */
  reserve(seq: KvSeq, length: number): boolean {
    return this.kv.reserve(seq, length);
  }

  /** Records that `seq`'s K/V now covers `computed` tokens of `tokens`; caches its newly full pages. */
  commit(seq: KvSeq, tokens: ArrayLike<number>, computed: number): void {
    this.kv.commitTokens(seq, tokens, computed);
  }

  /** Lets go of `seq` for good: pages only it held are freed at once instead of being cached. */
  discard(seq: KvSeq): void {
    this.kv.discard(seq);
  }

  /** Lets go of all of `seq`'s pages (cached full pages stay until evicted). */
  release(seq: KvSeq): void {
    this.kv.release(seq);
  }

  /**
   * Preempts `seq` to make room (the arena counts it): its pages go (freed outright for speculative
   * K/V, else cached) and it is recomputed from its cached prefix when it runs again.
   */
  preempt(seq: KvSeq, speculative = false): void {
    if (speculative) this.discard(seq);
    else this.release(seq);
    this.kv.countPreemption();
  }

  /**
   * Releases every sequence the pool still knows and drops copies not yet run: a search that ended early
   * (cancelled, failed) gives back every page it referenced (the engine's pools live as long as it does).
   */
  releaseAll(): void {
    for (const seq of [...this.kv.sequences]) this.release(seq);
    this.takeCopies();
  }

  /** Takes the copies to run (runner.copyPages) before the next forward. */
  takeCopies(): Array<[number, number]> {
    return this.kv.takeCopies();
  }
}

/** The search's two pools over one arena: a capacity change of either moves the arena's split. */
export function arenaSearchPools(arena: KvArena): { generatorPool: SearchKvPool; verifierPool: SearchKvPool } {
  return { generatorPool: new SearchKvPool({ arena, name: 'generator' }), verifierPool: new SearchKvPool({ arena, name: 'verifier' }) };
}
