// KV offloading (the memory planner's offload mode): a pool's K/V bytes in host memory, by page id,
// while its device pages are lent to the other model. The pool's bookkeeping stays as it was, so copies
// (copy-on-write) and moves (relocation) asked for meanwhile are made here on the bytes, which go back
// to the device at the page ids the bookkeeping holds then.

/** Host <-> device transfer of whole pages of one pool's region. */
export interface PageIo {
  /** The pages' bytes, concatenated in the order given. */
  readPages(pages: number[]): Promise<Uint8Array>;
  /** Writes pages.length pages of bytes (concatenated, in order) to the given pages. */
  writePages(pages: number[], data: Uint8Array): Promise<void>;
}

export class HostPages {
  private constructor(private readonly bytes: Map<number, Uint8Array>) {}

  /** Reads `pages` from the device into host memory. */
  static async read(io: PageIo, pages: number[]): Promise<{ host: HostPages; bytes: number }> {
    const data = pages.length > 0 ? await io.readPages(pages) : new Uint8Array(0);
    const each = pages.length > 0 ? data.byteLength / pages.length : 0;
    return { host: new HostPages(new Map(pages.map((p, i) => [p, data.subarray(i * each, (i + 1) * each)]))), bytes: data.byteLength };
  }

  /** Copy-on-write on the host bytes. */
  copy(src: number, dst: number): void {
    const b = this.bytes.get(src);
    if (b) this.bytes.set(dst, b.slice());
  }

  /** Relocation on the host bytes. */
  move(src: number, dst: number): void {
    const b = this.bytes.get(src);
    this.bytes.delete(src);
    if (b) this.bytes.set(dst, b);
  }

  /** Writes the pages that still hold K/V (`keep`) back to the device; returns the bytes moved. */
  async write(io: PageIo, keep: (page: number) => boolean): Promise<number> {
    const pages: number[] = [];
    const parts: Uint8Array[] = [];
    for (const [p, b] of this.bytes) {
      if (!keep(p)) continue;
      pages.push(p);
      parts.push(b);
    }
    const data = new Uint8Array(parts.reduce((a, b) => a + b.byteLength, 0));
    let at = 0;
    for (const b of parts) {
      data.set(b, at);
      at += b.byteLength;
    }
    if (pages.length > 0) await io.writePages(pages, data);
    return data.byteLength;
  }
}
