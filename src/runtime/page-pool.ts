// One model's KV pages and nothing else: page ids [lo, hi) of its region, a reference count per page,
// the free pages, and the page copies queued for the runner. Free pages come out lowest id first
// (generator) or highest first (verifier), so that the arena's two pools grow toward each other and a
// split can move without touching live pages. Sequences and the prefix cache live above it
// (kv-pool.ts, prefix-cache.ts).
import { BinaryHeap } from './binary-heap.ts';

/** What a pool needs from its runner: the page copy for copy-on-write and relocation. */
export interface PageCopier {
  /** Copies page src to page dst for every pair; pairs never share a page. */
  copyPages(pairs: Array<[src: number, dst: number]>): Promise<void>;
}

export class PagePool {
  private readonly refCount: Int32Array;
  private readonly free: BinaryHeap;
  private copies: Array<[number, number]> = [];
  private lo: number;
  private hi: number;
  /** Pages with at least one reference, and the most at once since resetPeak. */
  inUse = 0;
  peakInUse = 0;
  /** Pages with more than one reference, and the most at once since resetPeak. */
  shared = 0;
  peakShared = 0;

  constructor(
    readonly regionPages: number,
    highFirst: boolean,
    lo: number,
    hi: number,
  ) {
    this.refCount = new Int32Array(regionPages);
    this.free = new BinaryHeap(highFirst ? (a, b) => a > b : (a, b) => a < b);
    this.lo = lo;
    this.hi = hi;
    this.free.reset(range(lo, hi));
  }

  get range(): [lo: number, hi: number] {
    return [this.lo, this.hi];
  }

  get capacity(): number {
    return this.hi - this.lo;
  }

  inside(p: number): boolean {
    return p >= this.lo && p < this.hi;
  }

  /** Moves the pool to ids [lo, hi); the free pages become those of `isFree` inside it. */
  setRange(lo: number, hi: number, isFree: (p: number) => boolean): void {
    this.lo = lo;
    this.hi = hi;
    this.free.reset(range(lo, hi).filter(isFree));
  }

  references(p: number): number {
    return this.refCount[p];
  }

  get freeCount(): number {
    return this.free.size;
  }

  /** A free page (no reference yet), or -1 when none is free. */
  takeFree(): number {
    return this.free.size > 0 ? this.free.pop() : -1;
  }

  /** Gives back a page nobody references (ignored outside the range: the pool shrank past it). */
  giveBack(p: number): void {
    if (this.inside(p)) this.free.push(p);
  }

  freePages(): readonly number[] {
    return this.free.values();
  }

  /** Adds a reference; true when the page was unreferenced before. */
  ref(p: number): boolean {
    if (this.refCount[p] === 1 && ++this.shared > this.peakShared) this.peakShared = this.shared;
    if (this.refCount[p]++ > 0) return false;
    this.inUse++;
    this.peakInUse = Math.max(this.peakInUse, this.inUse);
    return true;
  }

  /** Drops a reference; true when it was the last one. */
  unref(p: number): boolean {
    if (this.refCount[p] === 2) this.shared--;
    if (--this.refCount[p] > 0) return false;
    this.inUse--;
    return true;
  }

  /** Moves all references of page `src` to page `dst` (a relocation copied its K/V). */
  moveReferences(src: number, dst: number): void {
    this.refCount[dst] = this.refCount[src];
    this.refCount[src] = 0;
  }

  recountInUse(): void {
    let used = 0;
    for (let p = 0; p < this.regionPages; p++) if (this.refCount[p] > 0) used++;
    this.inUse = used;
  }

  /** Starts new peak measurements from now. */
  resetPeak(): void {
    this.peakInUse = this.inUse;
    this.peakShared = this.shared;
  }

  /** Queues a page copy (copy-on-write) for the runner. */
  queueCopy(src: number, dst: number): void {
    this.copies.push([src, dst]);
  }

  get pendingCopies(): number {
    return this.copies.length;
  }

  /** Takes the queued copies (to run with runner.copyPages before the next forward call). */
  takeCopies(): Array<[number, number]> {
    const c = this.copies;
    this.copies = [];
    return c;
  }

  /** Throws unless the counts equal `refs` (the references the sequences hold) and the free pages are free. */
  check(refs: Int32Array, isCached: (p: number) => boolean): void {
    let used = 0;
    let shared = 0;
    for (let p = 0; p < this.regionPages; p++) {
      if (refs[p] !== this.refCount[p]) throw new Error(`page ${p}: reference count ${this.refCount[p]}, referenced ${refs[p]} times`);
      if (!this.inside(p) && (refs[p] > 0 || isCached(p))) throw new Error(`page ${p} used outside the pool's range`);
      if (refs[p] > 0) used++;
      if (refs[p] > 1) shared++;
    }
    if (used !== this.inUse) throw new Error(`pages in use ${this.inUse}, counted ${used}`);
    if (shared !== this.shared) throw new Error(`shared pages ${this.shared}, counted ${shared}`);
    for (const p of this.free.values()) {
      if (this.refCount[p] !== 0 || isCached(p) || !this.inside(p)) throw new Error(`free page ${p} is in use`);
    }
  }
}

export function range(lo: number, hi: number): number[] {
  return Array.from({ length: Math.max(0, hi - lo) }, (_, i) => lo + i);
}

/** Runs queued page copies in conflict-free groups: a page written by one copy is never read or written by another of its group. */
export async function flushCopies(copier: PageCopier, copies: Array<[number, number]>): Promise<void> {
  let group: Array<[number, number]> = [];
  const touched = new Set<number>();
  for (const [src, dst] of copies) {
    if (touched.has(src) || touched.has(dst)) {
      await copier.copyPages(group);
      group = [];
      touched.clear();
    }
    group.push([src, dst]);
    touched.add(src);
    touched.add(dst);
  }
  if (group.length > 0) await copier.copyPages(group);
}
