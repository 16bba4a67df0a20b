// The simplest KV page allocator behind the block-table interface: a free list, and per-sequence page
// lists. The paged arena with prefix sharing (kv-arena.ts) replaces it in the search; the runner tests
// and `fasttts generate` use this one.
import { OutOfMemoryError } from '../errors.ts';

export class PageAllocator {
  private readonly freePages: number[];

  constructor(
    readonly numPages: number,
    readonly pageSize: number,
  ) {
    this.freePages = Array.from({ length: numPages }, (_, i) => numPages - 1 - i);
  }

  get free(): number {
    return this.freePages.length;
  }

  allocate(count: number): number[] {
    if (count > this.freePages.length) {
      throw new OutOfMemoryError(`KV cache full: ${count} pages wanted, ${this.freePages.length} free of ${this.numPages}`);
    }
    return this.freePages.splice(this.freePages.length - count, count).reverse();
  }

  release(pages: Iterable<number>): void {
    for (const p of pages) this.freePages.push(p);
  }
}

/** One sequence's pages and length, growing through a PageAllocator. */
export class SequencePages {
  readonly pages: number[] = [];
  length = 0;

  constructor(private readonly allocator: PageAllocator) {}

  /** Makes room for `extra` more tokens; returns the block table to pass to the runner. */
  reserve(extra: number): number[] {
    const needed = Math.ceil((this.length + extra) / this.allocator.pageSize) - this.pages.length;
    if (needed > 0) this.pages.push(...this.allocator.allocate(needed));
    return this.pages;
  }

  release(): void {
    this.allocator.release(this.pages);
    this.pages.length = 0;
    this.length = 0;
  }
}
