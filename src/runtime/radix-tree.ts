// Radix tree over token ids, one per model, mapping cached prefixes to KV pages. The radix is one KV
// page: each node holds exactly one full page of tokens (pageSize ids) and the page whose K/V holds
// them, so a path from the root spells a prefix of whole pages, and a longest-prefix match returns the
// pages a new sequence can reuse. (Partly filled pages are never cached: their K/V is still growing.)
// Reference counts live with the pages (kv-arena.ts); the tree keeps least-recently-used order over
// the nodes whose page no sequence references, and evicts only leaves, so a cached prefix never loses
// a page in its middle.

export interface RadixNode {
  /** The node's tokens joined into a string: the key under its parent. Empty for the root. */
  readonly key: string;
  /** KV page holding this node's tokens (-1 for the root). */
  page: number;
  readonly parent: RadixNode | null;
  readonly children: Map<string, RadixNode>;
  /** Page index of this node in any sequence through it (root: -1). */
  readonly depth: number;
  /** Logical time of the last match or insert through this node (for LRU). */
  lastUse: number;
}

export function pageKey(tokens: ArrayLike<number>, start: number, pageSize: number): string {
  let s = '';
  for (let i = start; i < start + pageSize; i++) s += (i > start ? ',' : '') + tokens[i];
  return s;
}

/** Length of the common prefix of two token sequences. */
export function commonPrefixLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class RadixTree {
  readonly root: RadixNode = { key: '', page: -1, parent: null, children: new Map(), depth: -1, lastUse: 0 };
  private clock = 0;
  private nodes = 0;
  /** Nodes whose page has no referencing sequence (candidates for eviction once they are leaves). */
  private readonly unreferenced = new Set<RadixNode>();

  constructor(readonly pageSize: number) {}

  /** Cached pages (nodes other than the root). */
  get size(): number {
    return this.nodes;
  }

  /** Cached pages no sequence references: all of them can be evicted (leaves first). */
  get unreferencedCount(): number {
    return this.unreferenced.size;
  }

  /**
   * Longest cached prefix of `tokens` in whole pages, at most `maxPages` pages: the nodes along it,
   * root-most first. Touches them for LRU.
   */
  match(tokens: ArrayLike<number>, maxPages = Infinity): RadixNode[] {
    const path: RadixNode[] = [];
    let node = this.root;
    const limit = Math.min(maxPages, Math.floor(tokens.length / this.pageSize));
    const now = ++this.clock;
    for (let p = 0; p < limit; p++) {
      const child = node.children.get(pageKey(tokens, p * this.pageSize, this.pageSize));
      if (!child) break;
      child.lastUse = now;
      path.push(child);
      node = child;
    }
    return path;
  }

  /**
   * Adds the full page of `tokens` starting at `(parent.depth + 1) * pageSize` under `parent`, held by
   * `page`. Returns the node for it: a new one, or the existing one (whose page may differ) when the
   * same prefix is already cached.
   */
  insert(parent: RadixNode, tokens: ArrayLike<number>, page: number): RadixNode {
    const key = pageKey(tokens, (parent.depth + 1) * this.pageSize, this.pageSize);
    const now = ++this.clock;
    const existing = parent.children.get(key);
    if (existing) {
      existing.lastUse = now;
      return existing;
    }
    const node: RadixNode = { key, page, parent, children: new Map(), depth: parent.depth + 1, lastUse: now };
    parent.children.set(key, node);
    this.nodes++;
    return node;
  }

  /** Records whether any sequence references the node's page (the pool calls this as counts cross 0). */
  setReferenced(node: RadixNode, referenced: boolean): void {
    if (referenced) this.unreferenced.delete(node);
    else {
      node.lastUse = ++this.clock;
      this.unreferenced.add(node);
    }
  }

  isUnreferenced(node: RadixNode): boolean {
    return this.unreferenced.has(node);
  }

  /**
   * Removes the least recently used unreferenced leaf and returns its page, or -1 when nothing can be
   * evicted. A linear scan: the set holds at most the pool's pages, and eviction is rare next to reuse.
   */
  evictLru(): number {
    let victim: RadixNode | null = null;
    for (const n of this.unreferenced) {
      if (n.children.size === 0 && (!victim || n.lastUse < victim.lastUse)) victim = n;
    }
    if (!victim) return -1;
    this.remove(victim);
    return victim.page;
  }

  /**
   * Removes an unreferenced node and everything under it (all unreferenced: a sequence through a
   * descendant also references this node's page). Returns the pages freed.
   */
  removeSubtree(node: RadixNode): number[] {
    const pages: number[] = [];
    const visit = (n: RadixNode): void => {
      for (const c of [...n.children.values()]) visit(c);
      if (!this.unreferenced.has(n)) throw new Error(`radix tree: removing page ${n.page}, still referenced`);
      pages.push(n.page);
      this.remove(n);
    };
    visit(node);
    return pages;
  }

  private remove(node: RadixNode): void {
    if (node.children.size > 0) throw new Error('radix tree: removing an inner node');
    node.parent?.children.delete(node.key);
    this.unreferenced.delete(node);
    this.nodes--;
  }

  /** Every node, depth-first (for invariant checks and the prefix-aware scheduler). */
  *walk(from: RadixNode = this.root): Generator<RadixNode> {
    for (const c of from.children.values()) {
      yield c;
      yield* this.walk(c);
    }
  }
}
