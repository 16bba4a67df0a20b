// One sequence's KV in a pool (kv-pool.ts): its block table and how many leading tokens have K/V.
import type { RadixNode } from './radix-tree.ts';

export type PoolName = 'generator' | 'verifier';

export type SequenceState = 'live' | 'preempted' | 'freed';

/** One sequence's KV in a pool. Read its fields; change it only through the pool. */
export class KvSequence {
  /** Leading tokens whose K/V the pages hold. */
  computed = 0;
  /** Page ids: blockTable[i] holds positions [i * pageSize, (i + 1) * pageSize). */
  blockTable: number[] = [];
  state: SequenceState = 'live';
  /** Radix node of page treePages - 1 (the root when 0): the cached path this sequence runs along. */
  node: RadixNode;
  /** Leading pages of the block table that are the cached tree pages of this sequence's tokens. */
  treePages = 0;
  /** Highest `computed` ever reached: tokens computed again below it are recomputed. */
  highWater = 0;

  constructor(
    readonly id: number,
    readonly pool: PoolName,
    root: RadixNode,
  ) {
    this.node = root;
  }

  /** The block table (the search's name for it). */
  get pages(): number[] {
    return this.blockTable;
  }
}
