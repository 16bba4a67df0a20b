// The asymmetric generator/verifier memory planner (FastTTS technique 2). One budget holds both
// models' weights, activations and one KV arena. For every split of the arena's pages between the
// generator and the verifier, the roofline cost model (src/metrics/cost-model.ts) predicts one search
// iteration: the generator decoding a step for every beam, then the verifier prefilling it. A pool too
// small for all beams runs them in waves and recomputes the K/V the waiting beams lost. A linear search
// over the splits picks the fastest; the search re-plans every iteration with the step lengths and
// contexts it observed. When memory is so tight that no split holds both working sets, the planner
// also prices offloading the idle model's KV to host memory (each phase then gets the whole arena, at
// the cost of moving both working sets over the host link twice) and takes it when predicted faster.
import { OutOfMemoryError } from '../errors.ts';
import { BinaryHeap } from '../runtime/binary-heap.ts';
import { MAX_BATCH_TOKENS } from '../runtime/forward-batch.ts';
import { activationBytes, hostTransferMs, kvBytesPerTokenOf, predictForwardMs, weightBytes, type ModelShape } from '../metrics/cost-model.ts';
import type { HardwareProfile } from '../metrics/hardware-profiles.ts';

export interface PlannerOptions {
  /** Everything both models may use: weights, activations and KV (the `--memory-mb` budget). */
  budgetBytes?: number;
  /** Or the KV arena's bytes alone (weights and activations placed elsewhere); wins over budgetBytes. */
  kvBytes?: number;
  profile: HardwareProfile;
  generator: ModelShape;
  verifier: ModelShape;
  /** Tokens per KV page (16 by default). */
  pageSize?: number;
  /** Most token rows in one forward call (prefill chunks); also sizes the activations. Default 256. */
  maxBatchTokens?: number;
  /** Consider offloading the idle model's KV to host memory when no split fits. Default true. */
  allowOffload?: boolean;
  /** Verifier pages that fit beside g generator pages (KvArena.verifierPagesFor); default: bytes left / page bytes. */
  verifierPagesFor?: (generatorPages: number) => number;
  /** Called with each log entry as it is completed (e.g. console.debug). */
  onLog?: (entry: PlannerLogEntry) => void;
}

/** What the planner is told of the coming iteration (the search's IterationWorkload has these fields). */
export interface PlannerWorkload {
  /** Beams alive in this iteration (sequences each model runs). */
  beams: number;
  /** Observed generator step lengths in tokens (e.g. the previous iterations'); their spread is the stragglers. */
  stepLengths: number[];
  /** Mean tokens per beam already in the generator's context before the step. */
  generatorContext: number;
  /** Mean tokens per beam already in the verifier's context before the step. */
  verifierContext: number;
  /** Tokens every beam shares (the prompt), cached once per model. */
  sharedPrefixTokens: number;
  /** New verifier tokens per beam (default: the mean step length). */
  verifierNewTokens?: number;
  /**
   * Distinct tokens cached across all beams, per model (shared prefixes counted once: the pool's
   * referenced pages x page size). Default: the shared prefix plus every beam's own context.
   */
  distinctGeneratorTokens?: number;
  distinctVerifierTokens?: number;
  /** Tokens of the longest beam after this step, per model: a pool must hold it alone.
   *  Default: the mean context plus the longest step length. */
  longestGeneratorTokens?: number;
  longestVerifierTokens?: number;
}

export interface Split {
  generatorPages: number;
  verifierPages: number;
  /** The idle model's KV goes to host memory; each phase uses the whole arena. */
  offload: boolean;
}

export interface IterationPrediction extends Split {
  ms: number;
  generatorMs: number;
  verifierMs: number;
  transferMs: number;
  /** Beams each model can hold at once (>= beams: no waves). */
  generatorConcurrency: number;
  verifierConcurrency: number;
  /** Tokens recomputed because a pool could not keep every beam's K/V. */
  recomputedTokens: number;
}

export interface PlannerLogEntry {
  /** The search iteration planned (or the entry's index when the caller does not say). */
  iteration: number;
  inputs: PlannerWorkload;
  kvBytes: number;
  /** The split applied and its predicted time. */
  choice: IterationPrediction;
  /** Splits evaluated by the linear search (1 for a split kept as it was). */
  candidates: number;
  /** The split in place was kept without a search (both working sets fit it). */
  kept: boolean;
  /** The iteration's measured time (SearchOptions.onIteration's ms), once it ran. */
  observedMs?: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Bytes left for the KV arena once both models' weights and activation buffers are placed. */
export function kvBudgetBytes(o: PlannerOptions): number {
  if (o.kvBytes !== undefined) {
    if (!(o.kvBytes > 0)) throw new OutOfMemoryError(`KV budget must be positive, got ${o.kvBytes} bytes`);
    return o.kvBytes;
  }
  if (o.budgetBytes === undefined) throw new RangeError('memory planner: budgetBytes or kvBytes is required');
  const batch = o.maxBatchTokens ?? MAX_BATCH_TOKENS;
  const fixed = weightBytes(o.generator) + weightBytes(o.verifier) + activationBytes(o.generator, batch) + activationBytes(o.verifier, batch);
  const kv = o.budgetBytes - fixed;
  if (kv <= 0) {
    throw new OutOfMemoryError(
      `memory budget of ${(o.budgetBytes / 2 ** 20).toFixed(0)} MB does not hold the weights and activations (${(fixed / 2 ** 20).toFixed(0)} MB)`,
    );
  }
  return kv;
}

export function pageBytesOf(shape: ModelShape, pageSize: number): number {
  return pageSize * kvBytesPerTokenOf(shape);
}

/** Predicts one iteration (generator phase + verifier phase) for a given split. */
export class IterationModel {
  readonly pageSize: number;
  readonly maxBatchTokens: number;
  readonly kvBytes: number;
  readonly generatorPageBytes: number;
  readonly verifierPageBytes: number;
  private readonly decodeMemo = new Map<string, number>();

  constructor(readonly options: PlannerOptions) {
    this.pageSize = options.pageSize ?? 16;
    this.maxBatchTokens = options.maxBatchTokens ?? MAX_BATCH_TOKENS;
    this.kvBytes = kvBudgetBytes(options);
    this.generatorPageBytes = pageBytesOf(options.generator, this.pageSize);
    this.verifierPageBytes = pageBytesOf(options.verifier, this.pageSize);
  }

  get maxGeneratorPages(): number {
    return Math.floor(this.kvBytes / this.generatorPageBytes);
  }

  verifierPagesFor(generatorPages: number): number {
    if (this.options.verifierPagesFor) return this.options.verifierPagesFor(generatorPages);
    return Math.max(0, Math.floor((this.kvBytes - generatorPages * this.generatorPageBytes) / this.verifierPageBytes));
  }

  /** One model's KV footprint in the coming phase: the shared prefix, each beam's own context, its new tokens. */
  footprint(w: PlannerWorkload, model: 'generator' | 'verifier'): { shared: number; own: number; fresh: number; sharedPages: number; pagesPerBeam: number } {
    const ctx = model === 'generator' ? w.generatorContext : w.verifierContext;
    const shared = Math.min(w.sharedPrefixTokens, ctx);
    const distinct = model === 'generator' ? w.distinctGeneratorTokens : w.distinctVerifierTokens;
    const own = Math.max(0, distinct !== undefined && w.beams > 0 ? (distinct - shared) / w.beams : ctx - shared);
    const fresh = model === 'generator' ? mean(w.stepLengths) : (w.verifierNewTokens ?? mean(w.stepLengths));
    const sharedPages = Math.floor(shared / this.pageSize);
    // The shared prefix's partly filled last page is copied into every beam, plus one page of slack.
    const pagesPerBeam = Math.ceil((shared - sharedPages * this.pageSize + own + fresh) / this.pageSize) + 1;
    return { shared, own, fresh, sharedPages, pagesPerBeam };
  }

  /** Pages that hold every beam of the workload in one model's pool. */
  pagesForAllBeams(w: PlannerWorkload, model: 'generator' | 'verifier'): number {
    const f = this.footprint(w, model);
    return f.sharedPages + w.beams * f.pagesPerBeam;
  }

  /** How many beams fit in `pages` at once. */
  private concurrency(pages: number, beams: number, f: { sharedPages: number; pagesPerBeam: number }): number {
    return Math.max(0, Math.min(beams, Math.floor((pages - f.sharedPages) / f.pagesPerBeam)));
  }

  /** Prefill of `tokens` new tokens over `sequences` sequences, cut into calls of maxBatchTokens. */
  private prefillMs(shape: ModelShape, tokens: number, sequences: number, contextPerSequence: number): number {
    if (tokens <= 0) return 0;
    const calls = Math.ceil(tokens / this.maxBatchTokens);
    const seqs = Math.max(1, Math.ceil(sequences / calls));
    return calls * predictForwardMs(this.options.profile, shape, { sequences: seqs, newTokens: tokens / calls, contextTokens: seqs * contextPerSequence });
  }

  /**
   * Decoding one step for every beam with at most `slots` beams resident (continuous batching): beams
   * start in arrival order as slots free up, each runs for a step length drawn from the observed ones
   * (spread over the beams in a mixed order), and the batch shrinks to the stragglers at the end.
   */
  private decodeMs(slots: number, w: PlannerWorkload): number {
    const key = `${slots}|${w.beams}|${w.generatorContext}|${w.stepLengths.join(',')}`;
    const hit = this.decodeMemo.get(key);
    if (hit !== undefined) return hit;
    const sorted = [...w.stepLengths].sort((a, b) => a - b);
    const mixed = (i: number) => sorted[Math.floor(((i * 0.6180339887) % 1) * sorted.length)];
    const context = w.generatorContext + mean(w.stepLengths) / 2;
    const finish = new BinaryHeap((a, b) => a < b);
    let next = 0;
    let now = 0;
    let ms = 0;
    while (next < w.beams && finish.size < slots) finish.push(now + Math.max(1, mixed(next++)));
    while (finish.size > 0) {
      const t = finish.peek();
      const batch = finish.size;
      ms += (t - now) * predictForwardMs(this.options.profile, this.options.generator, { sequences: batch, newTokens: batch, contextTokens: batch * context });
      now = t;
      while (finish.size > 0 && finish.peek() <= now) finish.pop();
      while (next < w.beams && finish.size < slots) finish.push(now + Math.max(1, mixed(next++)));
    }
    if (this.decodeMemo.size > 4096) this.decodeMemo.clear();
    this.decodeMemo.set(key, ms);
    return ms;
  }

  /**
   * Tokens a beam recomputes when its K/V is pushed out: its own tokens including the step it has just
   * computed (lost at the end of the phase, paid for in the next one), plus the part it shared with
   * siblings in proportion to how many beams were pushed out with it (a resident sibling keeps the
   * shared pages cached); the prompt's pages stay cached.
   */
  private recomputePerBeam(context: number, f: { shared: number; own: number; fresh: number }, resident: number, beams: number): number {
    const sharedWithSiblings = Math.max(0, context - f.shared - f.own);
    return f.own + f.fresh + sharedWithSiblings * (1 - resident / Math.max(1, beams));
  }

  predict(w: PlannerWorkload, split: Split): IterationPrediction {
    const n = w.beams;
    const g = this.footprint(w, 'generator');
    const v = this.footprint(w, 'verifier');
    const gPages = split.offload ? this.maxGeneratorPages : split.generatorPages;
    const vPages = split.offload ? Math.floor(this.kvBytes / this.verifierPageBytes) : split.verifierPages;
    const gConc = this.concurrency(gPages, n, g);
    const vConc = this.concurrency(vPages, n, v);
    const none = { ...split, generatorConcurrency: gConc, verifierConcurrency: vConc, transferMs: 0, recomputedTokens: 0 };
    // Each pool must hold its longest beam alone, or the search could not run it at all.
    const longestStep = Math.max(...w.stepLengths);
    const gLongest = Math.ceil((w.longestGeneratorTokens ?? w.generatorContext + longestStep) / this.pageSize) + 1;
    const vLongest = Math.ceil((w.longestVerifierTokens ?? w.verifierContext + Math.max(v.fresh, longestStep)) / this.pageSize) + 1;
    if (n > 0 && (gConc === 0 || vConc === 0 || gPages < gLongest || vPages < vLongest))
      return { ...none, ms: Infinity, generatorMs: Infinity, verifierMs: Infinity };

    // Generator: gConc beams resident at a time; each beam that was not recomputes what it lost.
    const gRecompute = Math.round(Math.max(0, n - gConc) * this.recomputePerBeam(w.generatorContext, g, gConc, n));
    const generatorMs = this.decodeMs(gConc, w) + this.prefillMs(this.options.generator, gRecompute, n - gConc, g.shared);

    // Verifier: the new step of every beam, plus what the beams whose K/V did not stay lost.
    const vRecompute = Math.round(Math.max(0, n - vConc) * this.recomputePerBeam(w.verifierContext, v, vConc, n));
    const verifierMs = this.prefillMs(this.options.verifier, n * v.fresh + vRecompute, n, w.verifierContext);

    let transferMs = 0;
    if (split.offload) {
      const gBytes = Math.min(gPages, this.pagesForAllBeams(w, 'generator')) * this.generatorPageBytes;
      const vBytes = Math.min(vPages, this.pagesForAllBeams(w, 'verifier')) * this.verifierPageBytes;
      transferMs = hostTransferMs(this.options.profile, 2 * (gBytes + vBytes));
    }
    return { ...none, generatorMs, verifierMs, transferMs, recomputedTokens: gRecompute + vRecompute, ms: generatorMs + verifierMs + transferMs };
  }
}

/** Plans every iteration and keeps the log of inputs, choice, predicted and observed time. */
export class MemoryPlanner {
  readonly model: IterationModel;
  readonly log: PlannerLogEntry[] = [];

  constructor(readonly options: PlannerOptions) {
    this.model = new IterationModel(options);
  }

  /** The fastest split for this workload (linear search over generator pages; offload when tight). */
  plan(w: PlannerWorkload, iteration?: number): IterationPrediction {
    if (w.stepLengths.length === 0) throw new RangeError('memory planner: at least one observed step length is needed');
    const m = this.model;
    const max = m.maxGeneratorPages;
    const stride = Math.max(1, Math.ceil(max / 8192)); // every page up to 8192 pages
    let best: IterationPrediction | null = null;
    let candidates = 0;
    const splits: number[] = [];
    for (let g = 0; g < max; g += stride) splits.push(g);
    splits.push(max);
    // Among equally fast splits keep the one with the most room to spare for both (step lengths vary).
    const room = (p: IterationPrediction) =>
      Math.min(p.generatorPages / m.pagesForAllBeams(w, 'generator'), p.verifierPages / m.pagesForAllBeams(w, 'verifier'));
    for (const g of splits) {
      const p = m.predict(w, { generatorPages: g, verifierPages: m.verifierPagesFor(g), offload: false });
      candidates++;
      if (!best || p.ms < best.ms * (1 - 1e-9) || (p.ms <= best.ms * (1 + 1e-9) && room(p) > room(best))) best = p;
    }
    const fits = best!.generatorConcurrency >= w.beams && best!.verifierConcurrency >= w.beams;
    if (!fits && this.options.allowOffload !== false) {
      const off = m.predict(w, { generatorPages: max, verifierPages: m.verifierPagesFor(0), offload: true });
      candidates++;
      if (off.ms < best!.ms) best = off;
    }
    if (!Number.isFinite(best!.ms)) {
      throw new OutOfMemoryError(`memory planner: ${(m.kvBytes / 2 ** 20).toFixed(1)} MB of KV cannot hold one beam of each model`);
    }
    this.record(w, best!, candidates, false, iteration);
    return best!;
  }

  /** The static split a baseline uses (a fraction of the KV bytes to the generator), predicted and logged. */
  planStatic(w: PlannerWorkload, generatorFraction = 0.5): IterationPrediction {
    const m = this.model;
    const g = Math.floor((m.kvBytes * generatorFraction) / m.generatorPageBytes);
    const p = m.predict(w, { generatorPages: g, verifierPages: m.verifierPagesFor(g), offload: false });
    this.record(w, p, 1, false);
    return p;
  }

  /** Logs a split kept as it is (no search), with its predicted time. */
  keep(w: PlannerWorkload, split: Split, iteration?: number): IterationPrediction {
    const p = this.model.predict(w, split);
    this.record(w, p, 1, true, iteration);
    return p;
  }

  /** The caller applies `split` instead of the last choice (e.g. room for its longest beam): log that one's prediction. */
  amend(split: Split): IterationPrediction | null {
    const last = this.log[this.log.length - 1];
    if (!last) return null;
    const c = last.choice;
    if (c.generatorPages !== split.generatorPages || c.verifierPages !== split.verifierPages || c.offload !== split.offload)
      last.choice = this.model.predict(last.inputs, split);
    return last.choice;
  }

  /** Attaches the measured time of an iteration to its entry (the last one, if it is that iteration's). */
  observe(observedMs: number, iteration?: number): PlannerLogEntry | null {
    const last = this.log[this.log.length - 1];
    if (!last || (iteration !== undefined && last.iteration !== iteration) || last.observedMs !== undefined) return null;
    last.observedMs = observedMs;
    this.options.onLog?.(last);
    return last;
  }

  private record(inputs: PlannerWorkload, choice: IterationPrediction, candidates: number, kept: boolean, iteration = this.log.length): void {
    this.log.push({ iteration, inputs: { ...inputs, stepLengths: inputs.stepLengths.slice() }, kvBytes: this.model.kvBytes, choice, candidates, kept });
  }
}

/** One line for logs: inputs, choice, predicted against observed. */
export function formatPlannerEntry(e: PlannerLogEntry): string {
  const c = e.choice;
  const w = e.inputs;
  const observed = e.observedMs === undefined ? 'n/a' : `${e.observedMs.toFixed(1)} ms`;
  return (
    `planner it=${e.iteration} beams=${w.beams} step~${mean(w.stepLengths).toFixed(0)} ctx=${w.generatorContext.toFixed(0)}/${w.verifierContext.toFixed(0)} ` +
    `kv=${(e.kvBytes / 2 ** 20).toFixed(1)}MB -> ${e.kept ? 'kept ' : ''}${c.offload ? 'offload (each phase the whole arena)' : `gen ${c.generatorPages}p ver ${c.verifierPages}p`} ` +
    `predicted ${c.ms.toFixed(1)} ms (gen ${c.generatorMs.toFixed(1)}, ver ${c.verifierMs.toFixed(1)}, xfer ${c.transferMs.toFixed(1)}) observed ${observed}`
  );
}

export interface PlannerHookOptions<W extends PlannerWorkload = PlannerWorkload> {
  /** Step lengths remembered for the next plans (default 2048). */
  historyLimit?: number;
  /**
   * Asked first: the split in place when it should be kept as it is (no search, no page moves), else
   * null. A kept split is still predicted and logged; the hook then returns null (keep).
   */
  keep?: (w: W) => Split | null;
  /** Changes the planner's choice before it is applied (e.g. room for the longest beam); the prediction logged is the applied split's. */
  adjust?: (choice: Split, w: W) => Split;
}

/**
 * Adapts a MemoryPlanner to the search's per-iteration hook (SearchOptions.planMemory, which passes a
 * PlannerWorkload plus the iteration number): plans with every step length seen so far, logs the
 * choice, and returns the pages per pool (null: keep the split in place). The measured time comes
 * later, from SearchOptions.onIteration (planner.observe(ms, iteration)). An offload choice needs pools
 * of one KvArena with page transfers attached (KvArena.activate); other searches plan with allowOffload: false.
 */
export function plannerHook<W extends PlannerWorkload>(planner: MemoryPlanner, o: PlannerHookOptions<W> = {}): (w: W & { iteration?: number }) => Split | null {
  // The next step's length is a fresh draw, not the survivors' last step: plan with every length seen.
  const history: number[] = [];
  const limit = o.historyLimit ?? 2048;
  return (w) => {
    history.push(...w.stepLengths);
    if (history.length > limit) history.splice(0, history.length - limit);
    const { iteration, ...rest } = w;
    const workload = { ...rest, stepLengths: history.slice() } as unknown as W;
    const kept = o.keep?.(workload);
    if (kept) {
      planner.keep(workload, kept, iteration);
      return null;
    }
    const choice = planner.plan(workload, iteration);
    const split = { generatorPages: choice.generatorPages, verifierPages: choice.verifierPages, offload: choice.offload };
    if (!o.adjust) return split;
    const applied = o.adjust(split, workload);
    planner.amend(applied);
    return applied;
  };
}

/** An arena's split arithmetic (KvArena has it). */
export interface ArenaSplits {
  readonly maxGeneratorPages: number;
  verifierPagesFor(generatorPages: number): number;
  generatorPagesBeside(verifierPages: number): number;
}

/**
 * Moves a chosen split's boundary so that each pool holds its longest beam (at least minGeneratorPages
 * and minVerifierPages), taking the pages from the other pool; the verifier gets what the generator
 * leaves. An offload choice stands: each phase has the whole arena.
 */
export function holdLongestBeams(arena: ArenaSplits, choice: Split, need: { minGeneratorPages: number; minVerifierPages: number }): Split {
  if (choice.offload) return choice;
  let g = choice.generatorPages;
  if (arena.verifierPagesFor(g) < need.minVerifierPages) g = arena.generatorPagesBeside(need.minVerifierPages);
  if (g < need.minGeneratorPages) g = Math.min(need.minGeneratorPages, arena.maxGeneratorPages);
  return { generatorPages: g, verifierPages: arena.verifierPagesFor(g), offload: false };
}
