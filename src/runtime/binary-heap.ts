// A binary heap of numbers under a strict order: the KV pools' free page ids (lowest or highest id
// first) and the memory planner's decode simulation (earliest finish time first).
export class BinaryHeap {
  private heap: number[] = [];

  /** @param before true when `a` must come out before `b` */
  constructor(private readonly before: (a: number, b: number) => boolean) {}

  get size(): number {
    return this.heap.length;
  }

  peek(): number {
    return this.heap[0];
  }

  push(x: number): void {
    const h = this.heap;
    h.push(x);
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

  /** Empties the heap and puts `xs` in. */
  reset(xs: Iterable<number>): void {
    this.heap = [];
    for (const x of xs) this.push(x);
  }

  /** The elements, in heap order. */
  values(): readonly number[] {
    return this.heap;
  }
}
