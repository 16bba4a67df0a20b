// The engine's loaded parts as the API's calls see them (backend.ts loads them; solve-search.ts and
// backend.ts's generate() run on them), and the one scratch-page helper both use.
import { OutOfMemoryError } from '../errors.ts';
import type { OpenedModel } from '../model/open-model.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { ModelShape } from '../metrics/cost-model.ts';
import type { HardwareProfile } from '../metrics/hardware-profiles.ts';
import type { ModelRunner } from '../runtime/types.ts';
import type { KvArena } from '../runtime/kv-arena.ts';
import type { PromptFormat } from '../search/context.ts';
import type { SearchKvPool } from '../search/search-kv.ts';
import type { EngineOptions } from './types.ts';

/** What the search needs from the loaded engine (see solve-search.ts). */
export interface LoadedModels {
  /** Throws if the device has been lost (a no-op on the CPU route). */
  assertAlive(): void;
  generator: ModelRunner;
  verifier: ModelRunner;
  generatorModel: OpenedModel;
  verifierModel: OpenedModel;
  tokenizer: Tokenizer;
  verifierTokenizer: Tokenizer;
  /** The KV arena: one byte range, the generator's pool from the start, the verifier's from the end. */
  kv: { arena: KvArena };
  /** The models as the cost model sees them (weights in the format loaded), for the memory planner. */
  shapes: { generator: ModelShape; verifier: ModelShape };
  format: PromptFormat;
  /** Largest nearly-free decode batch (FastTTS speculation budget), measured on first use. */
  speculationBatch: number | null;
  /** The device's cost-model profile fitted from that calibration (the planner's), or null when too few samples. */
  plannerProfile: HardwareProfile | null;
  mode: EngineOptions['mode'];
  memoryMB: number;
  /** The search's KV pools: the arena's two pools, kept between calls (their radix caches too). */
  pools: { generatorPool: SearchKvPool; verifierPool: SearchKvPool };
  /** KV pages referenced by sequences, updated as calls run, for stats(). */
  livePages: { generator: number; verifier: number };
}

/** Runs `work` on the generator through `pages` KV pages borrowed from its search pool (cached prefixes stay intact). */
export async function withScratchPages<T>(m: LoadedModels, pages: number, work: (runner: ModelRunner) => Promise<T>): Promise<T> {
  const pool = m.pools.generatorPool;
  const seq = pool.newSeq();
  try {
    if (!pool.reserve(seq, pages * m.generator.pageSize))
      throw new OutOfMemoryError(`the KV cache has fewer than ${pages} free pages under a ${m.memoryMB} MiB budget`);
    return await work(onPages(m.generator, seq.pages));
  } finally {
    pool.release(seq);
  }
}

/** The runner seen through a page table: local page i is `pages[i]` of the real runner. */
export function onPages(runner: ModelRunner, pages: number[]): ModelRunner {
  return {
    config: runner.config,
    pageSize: runner.pageSize,
    numPages: pages.length,
    forward: (batch) => runner.forward({ chunks: batch.chunks.map((c) => ({ ...c, blockTable: Array.from(c.blockTable, (p) => pages[p]) })) }),
    copyPages: (pairs) => runner.copyPages(pairs.map(([a, b]) => [pages[a], pages[b]])),
    dispose: () => {},
  };
}
