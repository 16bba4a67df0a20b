// The cost-model runner: the synthetic model (synthetic-model.ts: step lengths, steps per solution and
// error rates replayed from recorded statistics) behind the ModelRunner interface, with every forward
// call and page copy charged to a virtual clock at the time the roofline cost model predicts for a real
// model shape on a hardware profile. The search runs unchanged on it, so baseline and FastTTS can be
// compared for Qwen2.5-Math-sized models on an RTX 4090 without either.
import type { ForwardBatch, ForwardResult, ModelRunner } from '../runtime/types.ts';
import { KvArena } from '../runtime/kv-arena.ts';
import type { PageIo } from '../runtime/kv-offload.ts';
import { hostTransferMs, predictForwardMs, kvBytesPerTokenOf, type ModelShape } from '../metrics/cost-model.ts';
import type { HardwareProfile } from '../metrics/hardware-profiles.ts';
import { SyntheticRunner, SyntheticTokenizer, SYNTHETIC_BOS, DEFAULT_STEP_STATISTICS, type StepStatistics } from './synthetic-model.ts';
import { VirtualClock, wallClock, type Clock } from '../metrics/trace.ts';
import { SearchKvPool, arenaSearchPools } from '../search/search-kv.ts';
import type { PromptFormat, SearchEnv } from '../search/context.ts';
import { TraceRecorder } from '../metrics/trace.ts';

export class CostModelRunner implements ModelRunner, PageIo {
  private readonly model: SyntheticRunner;

  constructor(
    kind: 'causal-lm' | 'prm-value-head',
    readonly numPages: number,
    readonly pageSize: number,
    readonly shape: ModelShape,
    readonly profile: HardwareProfile,
    readonly clock: VirtualClock,
    stats: StepStatistics = DEFAULT_STEP_STATISTICS,
  ) {
    this.model = new SyntheticRunner(kind, numPages, pageSize, stats);
  }

  get config() {
    return this.model.config;
  }

  async forward(batch: ForwardBatch): Promise<ForwardResult> {
    let newTokens = 0,
      context = 0,
      rows = 0,
      pairs = 0;
    // Cached tokens per distinct physical page: shared prefix pages are read once (cost-model.ts).
    const pageTokens = new Map<number, number>();
    for (const c of batch.chunks) {
      for (let j = 0; j * this.pageSize < c.start; j++) {
        const used = Math.min(this.pageSize, c.start - j * this.pageSize);
        const page = c.blockTable[j];
        if (used > (pageTokens.get(page) ?? 0)) pageTokens.set(page, used);
      }
      newTokens += c.tokens.length;
      context += c.start;
      rows += c.outputRows.length;
      // Exact attended (query, key) pairs of a causal chunk.
      pairs += c.tokens.length * c.start + (c.tokens.length * (c.tokens.length + 1)) / 2;
    }
    let distinct = 0;
    for (const t of pageTokens.values()) distinct += t;
    this.clock.advance(
      predictForwardMs(this.profile, this.shape, {
        sequences: batch.chunks.length,
        newTokens,
        contextTokens: context,
        outputRows: rows,
        attendedPairs: pairs,
        distinctContextTokens: distinct,
      }),
    );
    return this.model.forward(batch);
  }

  async copyPages(pairs: Array<[number, number]>): Promise<void> {
    // A copy reads and writes one page of K/V per pair, plus one dispatch.
    const bytes = 2 * pairs.length * this.pageSize * kvBytesPerTokenOf(this.shape);
    this.clock.advance((bytes / (this.profile.bandwidth * this.profile.bandwidthEfficiency)) * 1000 + this.profile.dispatchMs);
    return this.model.copyPages(pairs);
  }

  /** Offloading: the pages cross the host link, charged at the real shape's page size. */
  async readPages(pages: number[]): Promise<Uint8Array> {
    this.clock.advance(hostTransferMs(this.profile, pages.length * this.pageSize * kvBytesPerTokenOf(this.shape)));
    return this.model.readPages(pages);
  }

  async writePages(pages: number[], data: Uint8Array): Promise<void> {
    this.clock.advance(hostTransferMs(this.profile, pages.length * this.pageSize * kvBytesPerTokenOf(this.shape)));
    return this.model.writePages(pages, data);
  }

  dispose(): void {}
}

/** The synthetic prompt format: Skywork-style verifier input (bos + problem + "\n", steps each followed by "\n"). */
export function syntheticPromptFormat(tokenizer = new SyntheticTokenizer()): PromptFormat {
  const sep = tokenizer.encode('\n');
  return {
    generatorPrompt: (problem) => tokenizer.generatorPrompt(problem),
    verifierPrefix: (problem) => [SYNTHETIC_BOS, ...tokenizer.encode(problem + '\n')],
    verifierStep: (text) => [...tokenizer.encode(text), ...sep],
    isEos: (t) => tokenizer.eosTokenIds.includes(t),
  };
}

export interface SyntheticEnvOptions {
  /** Pages of each model's own pool (without `arena`). */
  generatorPages?: number;
  verifierPages?: number;
  pageSize?: number;
  stats?: StepStatistics;
  /** Charge time from the cost model for these shapes on this profile; absent: plain synthetic runners, wall clock. */
  cost?: { profile: HardwareProfile; generator: ModelShape; verifier: ModelShape };
  trace?: boolean;
  /**
   * Both pools in one KV arena of these bytes (as the engine's GPU arena): splits move the boundary and
   * offload mode can move the idle model's K/V to host memory; the split starts even.
   */
  arena?: { totalBytes: number; generatorPageBytes: number; verifierPageBytes: number };
}

/** A complete search environment on the synthetic model (tests, and the cost-model bench). */
export function syntheticEnv(o: SyntheticEnvOptions): SearchEnv {
  const pageSize = o.pageSize ?? 16;
  const arena = o.arena ? new KvArena({ ...o.arena, pageSize }) : null;
  if (!arena && (o.generatorPages === undefined || o.verifierPages === undefined))
    throw new RangeError('syntheticEnv: give generatorPages and verifierPages, or an arena');
  const generatorPages = arena ? arena.generatorRegion.numPages : o.generatorPages!;
  const verifierPages = arena ? arena.verifierRegion.numPages : o.verifierPages!;
  const tokenizer = new SyntheticTokenizer();
  let clock: Clock = wallClock;
  let generator: ModelRunner;
  let verifier: ModelRunner;
  if (o.cost) {
    const vc = new VirtualClock();
    clock = vc;
    generator = new CostModelRunner('causal-lm', generatorPages, pageSize, o.cost.generator, o.cost.profile, vc, o.stats);
    verifier = new CostModelRunner('prm-value-head', verifierPages, pageSize, o.cost.verifier, o.cost.profile, vc, o.stats);
  } else {
    generator = new SyntheticRunner('causal-lm', generatorPages, pageSize, o.stats);
    verifier = new SyntheticRunner('prm-value-head', verifierPages, pageSize, o.stats);
  }
  const { generatorPool, verifierPool } = arena
    ? arenaSearchPools(arena)
    : { generatorPool: new SearchKvPool(generatorPages, pageSize), verifierPool: new SearchKvPool(verifierPages, pageSize) };
  if (arena) {
    // Splits relocate live pages and offload mode moves them over the host link: the runners do both.
    for (const [pool, runner] of [
      [generatorPool, generator],
      [verifierPool, verifier],
    ] as const) {
      const io = runner as ModelRunner & PageIo; // SyntheticRunner and CostModelRunner both move pages
      pool.kv.attach(io);
      pool.kv.attachIo(io);
    }
  }
  return {
    generator,
    verifier,
    codec: tokenizer,
    format: syntheticPromptFormat(tokenizer),
    clock,
    generatorPool,
    verifierPool,
    trace: o.trace ? new TraceRecorder() : undefined,
  };
}
