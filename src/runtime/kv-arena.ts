// The paged KV arena: one byte range (or two buffers) of fixed-size pages holding two pools, the
// generator's and the verifier's (kv-pool.ts), whose split the memory planner moves between
// iterations. Each pool does its own paging (page-pool.ts: reference counts, free pages, copies;
// prefix-cache.ts: cached prefixes; kv-offload.ts: K/V in host memory in offload mode). A GPU
// out-of-memory error never happens: a pool never hands out a page it does not have.
import { OutOfMemoryError } from '../errors.ts';
import type { PageIo } from './kv-offload.ts';
import { KvPool, type KvPoolStats } from './kv-pool.ts';
import type { PoolName } from './kv-sequence.ts';

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
      return [
        [0, g],
        [vr.numPages - vPages, vr.numPages],
      ];
    }
    const vLo = Math.min(vr.numPages, Math.max(0, Math.ceil((genEnd - vr.offsetBytes) / vr.pageBytes)));
    return [
      [0, g],
      [vLo, vr.numPages],
    ];
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
