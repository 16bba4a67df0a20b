// A host-side K/V page store for the KV arena tests (not a test file itself).
import type { KvPool } from '../src/runtime/kv-pool.ts';
import type { KvSequence } from '../src/runtime/kv-sequence.ts';
import { flushCopies, type PageCopier } from '../src/runtime/page-pool.ts';
import type { PageIo } from '../src/runtime/kv-offload.ts';
import type { SequenceChunk } from '../src/runtime/types.ts';

// A host-side K/V page store with the runner's paging: `width` floats per token, pages of pageSize
// tokens, written through block tables and copied page to page. A token's K/V depends on every token
// up to it (as in a causal model), so a page holding the wrong prefix reads back wrong.
export const WIDTH = 3;

export function tokenKv(tokens: ArrayLike<number>, pos: number): number[] {
  let h = 0x9e3779b9;
  for (let i = 0; i <= pos; i++) h = Math.imul(h ^ (tokens[i] + 1), 0x85ebca6b) ^ (h >>> 13);
  return [h & 0xffff, (h >>> 16) & 0xffff, pos];
}

export class HostPageStore implements PageCopier, PageIo {
  readonly data: Float32Array;
  copies = 0;
  constructor(
    readonly numPages: number,
    readonly pageSize: number,
  ) {
    this.data = new Float32Array(numPages * pageSize * WIDTH).fill(NaN);
  }
  private at(page: number, slot: number): number {
    if (!(page >= 0 && page < this.numPages)) throw new Error(`page ${page} out of the store`);
    return (page * this.pageSize + slot) * WIDTH;
  }
  async copyPages(pairs: Array<[number, number]>): Promise<void> {
    const srcs = new Set(pairs.map((p) => p[0]));
    for (const [, d] of pairs) if (srcs.has(d)) throw new Error(`copy destination ${d} is also a source`);
    for (const [s, d] of pairs) this.data.copyWithin(this.at(d, 0), this.at(s, 0), this.at(s, 0) + this.pageSize * WIDTH);
    this.copies += pairs.length;
  }
  async readPages(pages: number[]): Promise<Uint8Array> {
    const floats = this.pageSize * WIDTH;
    const out = new Float32Array(pages.length * floats);
    pages.forEach((p, i) => out.set(this.data.subarray(this.at(p, 0), this.at(p, 0) + floats), i * floats));
    return new Uint8Array(out.buffer);
  }
  async writePages(pages: number[], data: Uint8Array): Promise<void> {
    const floats = this.pageSize * WIDTH;
    const src = new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4);
    pages.forEach((p, i) => this.data.set(src.subarray(i * floats, (i + 1) * floats), this.at(p, 0)));
  }
  /** Junk in every free page, so that K/V read from a page nobody wrote shows up. */
  scribble(pool: KvPool): void {
    const [lo, hi] = pool.pageRange;
    for (let p = lo; p < hi; p++) if (pool.referencesOf(p) === 0 && !pool.isCached(p)) this.data.fill(-1, this.at(p, 0), this.at(p, 0) + this.pageSize * WIDTH);
  }
  /** The runner's forward: writes every new token's K/V through the block table. */
  write(chunk: SequenceChunk, allTokens: number[]): void {
    for (let i = 0; i < chunk.tokens.length; i++) {
      const pos = chunk.start + i;
      const o = this.at(chunk.blockTable[Math.floor(pos / this.pageSize)], pos % this.pageSize);
      this.data.set(tokenKv(allTokens, pos), o);
    }
  }
  read(blockTable: number[], pos: number): number[] {
    const o = this.at(blockTable[Math.floor(pos / this.pageSize)], pos % this.pageSize);
    return Array.from(this.data.subarray(o, o + WIDTH));
  }
}

/**
 * A pool's page transfers as offload mode uses them on one arena: once its pages are read out they
 * belong to the other model, which overwrites them (junk here), so only K/V that really went to host
 * memory and came back survives.
 */
export function lentOut(io: PageIo): PageIo {
  return {
    async readPages(pages) {
      const bytes = await io.readPages(pages);
      await io.writePages(pages, new Uint8Array(bytes.byteLength).fill(0x5a));
      return bytes;
    },
    writePages: (pages, data) => io.writePages(pages, data),
  };
}

/** A sequence as the search holds it: the pool's KV and the tokens beside it. */
export interface HeldSeq {
  kv: KvSequence;
  tokens: number[];
}

/**
 * One forward call as the search makes it on a pool's sequence API: a sequence holding nothing takes
 * its cached prefix back, pages are reserved for the tokens up to `upTo` (default: all), the queued
 * copies run, `run` computes the chunks (the K/V of the pending tokens), and the pool commits them.
 * Sequences the pool has no room for are left out (the caller, like the search, preempts someone).
 * No page written is shared or cached.
 */
export async function forwardHeld(
  pool: KvPool,
  copier: PageCopier,
  seqs: HeldSeq[],
  run: (chunks: SequenceChunk[], seqs: HeldSeq[]) => Promise<void>,
  upTo: (s: HeldSeq) => number = (s) => s.tokens.length,
): Promise<HeldSeq[]> {
  const ran: HeldSeq[] = [];
  for (const s of seqs) {
    if (s.kv.pages.length === 0 && s.kv.computed === 0) pool.attachPrefix(s.kv, s.tokens);
    if (pool.reserve(s.kv, upTo(s))) ran.push(s);
  }
  await flushCopies(copier, pool.takeCopies());
  const chunks: SequenceChunk[] = [];
  for (const s of ran) {
    const end = upTo(s);
    for (let pos = s.kv.computed; pos < end; pos++) {
      const page = s.kv.pages[Math.floor(pos / pool.pageSize)];
      if (pool.referencesOf(page) !== 1 || pool.isCached(page)) throw new Error(`page ${page} written while shared or cached`);
    }
    chunks.push({ blockTable: s.kv.pages.slice(), start: s.kv.computed, tokens: s.tokens.slice(s.kv.computed, end), outputRows: [end - s.kv.computed - 1] });
  }
  const running = ran.filter((_, k) => chunks[k].tokens.length > 0);
  await run(
    chunks.filter((c) => c.tokens.length > 0),
    running,
  );
  for (const s of ran) pool.commitTokens(s.kv, s.tokens, upTo(s));
  return ran;
}

/** Throws unless every held sequence's K/V reads back as its contiguous shadow. */
export function checkHeld(seqs: Iterable<HeldSeq>, store: HostPageStore): void {
  for (const { kv, tokens } of seqs) {
    for (let pos = 0; pos < kv.computed; pos++) {
      const got = store.read(kv.pages, pos);
      const want = tokenKv(tokens, pos);
      if (got.some((v, j) => v !== want[j])) throw new Error(`sequence ${kv.id} position ${pos}: K/V differs from its contiguous shadow`);
    }
  }
}
