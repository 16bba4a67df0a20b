// A host-side K/V page store for the KV arena tests (not a test file itself).
import type { KvPool, PageCopier, PageIo } from '../src/runtime/kv-arena.ts';
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
  constructor(readonly numPages: number, readonly pageSize: number) {
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
