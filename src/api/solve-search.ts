// solve(): one problem through the search (src/search) on the loaded models, with the API's options,
// event stream, cancellation and the command-line contract's metrics. The search's pools are the KV
// arena's; baseline mode keeps its static 50/50 split, FastTTS mode lets the asymmetric memory planner
// re-split it every iteration (search/arena-planner.ts, with a cost-model profile fitted to this
// device's decode calibration).
import { CancelledError, OptionError } from '../errors.ts';
import { wallClock } from '../metrics/trace.ts';
import { solve } from '../search/solve.ts';
import { answersEqual } from '../search/answer.ts';
import { calibrateDecode, DECODE_CALIBRATION_CONTEXT } from '../search/calibration.ts';
import { arenaPlanner, profileFromCalibration } from '../search/arena-planner.ts';
import { normalizeOptions } from '../search/search.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions, type SearchEnv, type SearchOptions } from '../search/context.ts';
import type { ModelRunner } from '../runtime/types.ts';
import { withScratchPages, type LoadedModels } from './loaded-models.ts';
import { MAX_BATCH_TOKENS } from '../runtime/forward-batch.ts';
import { SearchObserver, plannerEvent } from './search-events.ts';
import type { EngineEvent, EngineMode, SolveMetrics, SolveOptions, SolveResult } from './types.ts';

/** Tokens per step (and for the last iteration's remainder) unless the caller says otherwise. */
const DEFAULT_MAX_STEP_TOKENS = 256;

/** A runner that stops the search at its next forward call once the call is cancelled or the device is lost. */
function guarded(runner: ModelRunner, m: LoadedModels, signal: AbortSignal | undefined, after: () => void): ModelRunner {
  const check = () => {
    if (signal?.aborted) throw new CancelledError();
    m.assertAlive();
  };
  return {
    config: runner.config,
    pageSize: runner.pageSize,
    numPages: runner.numPages,
    async forward(batch) {
      check();
      const result = await runner.forward(batch);
      after();
      return result;
    },
    async copyPages(pairs) {
      check();
      await runner.copyPages(pairs);
    },
    dispose: () => {},
  };
}

/** Throws the OptionError a solve with these options would, without a model or a device. */
export function checkSolveOptions(options: SolveOptions): void {
  normalizeOptions(searchOptions(options, 'fasttts', 0));
}

function searchOptions(options: SolveOptions, mode: EngineMode, speculationBatch: number): SearchOptions {
  if (options.mode !== undefined && options.mode !== 'fasttts' && options.mode !== 'baseline') {
    throw new OptionError(`mode must be "fasttts" or "baseline", got "${String(options.mode)}"`);
  }
  const d = defaultSearchOptions();
  return defaultSearchOptions({
    method: options.method ?? d.method,
    n: options.n ?? d.n,
    beamWidth: options.beamWidth ?? d.beamWidth,
    iterations: options.iterations ?? d.iterations,
    agg: options.agg ?? d.agg,
    select: options.select ?? d.select,
    sampling: { ...d.sampling, temperature: options.temperature ?? d.sampling.temperature, seed: options.seed ?? d.sampling.seed },
    maxStepTokens: options.maxTokens ?? DEFAULT_MAX_STEP_TOKENS,
    techniques: mode === 'fasttts' ? FASTTTS_TECHNIQUES : BASELINE_TECHNIQUES,
    speculationBatch: mode === 'fasttts' ? speculationBatch : 0,
  });
}

export async function solveWithSearch(
  m: LoadedModels,
  problem: string,
  options: SolveOptions,
  signal: AbortSignal | undefined,
  onEvent?: (e: EngineEvent) => void,
): Promise<SolveResult> {
  const mode = options.mode ?? m.mode ?? 'fasttts';
  if (mode === 'fasttts' && m.speculationBatch === null) {
    // How many sequences a decode step takes for about the price of one, on this device (1 on a CPU route).
    const maxBatch = 16;
    const pages = Math.min(m.pools.generatorPool.capacity, maxBatch * Math.ceil((DECODE_CALIBRATION_CONTEXT + 1) / m.generator.pageSize));
    const cal = await withScratchPages(m, pages, (runner) => calibrateDecode(runner, wallClock, { maxBatch, context: DECODE_CALIBRATION_CONTEXT }));
    m.speculationBatch = cal.nearlyFreeBatch;
    m.plannerProfile = profileFromCalibration(m.shapes.generator, cal, DECODE_CALIBRATION_CONTEXT);
  }
  const opts = searchOptions(options, mode, m.speculationBatch ?? 0);
  const memory =
    mode === 'fasttts' && m.plannerProfile
      ? arenaPlanner(m.kv.arena, { profile: m.plannerProfile, shapes: m.shapes, maxBatchTokens: MAX_BATCH_TOKENS, allowOffload: true, keepWhileHeld: true })
      : null;
  if (memory) opts.planMemory = memory.planMemory;
  const emit = onEvent ?? (() => {});
  const observer = new SearchObserver(m.tokenizer, opts.iterations, opts.agg, emit);
  opts.onIteration = (iteration, beams, _required, ms) => {
    observer.onIteration(iteration, beams);
    const entry = memory?.planner.observe(ms, iteration);
    if (entry) emit(plannerEvent({ ...entry, observedMs: ms }));
  };
  const { generatorPool, verifierPool } = m.pools;
  const arena = m.kv.arena;
  // Every call starts from the static 50/50 split (baseline keeps it); the pools hold only cached pages now.
  generatorPool.releaseAll();
  verifierPool.releaseAll();
  await arena.setSplit(arena.options.generatorPages ?? arena.generator.capacityPages);
  arena.generator.resetPeak();
  arena.verifier.resetPeak();
  const kv0 = arena.stats();
  const countPages = () => {
    m.livePages.generator = generatorPool.pagesReferenced;
    m.livePages.verifier = verifierPool.pagesReferenced;
  };
  const env: SearchEnv = {
    generator: guarded(m.generator, m, signal, countPages),
    verifier: guarded(m.verifier, m, signal, countPages),
    codec: m.tokenizer,
    format: m.format,
    clock: wallClock,
    generatorPool,
    verifierPool,
    // The runners' activation limit: longer verifier batches and recomputes are split (chunked prefill).
    maxBatchTokens: MAX_BATCH_TOKENS,
    events: observer,
  };
  try {
    const out = await solve(env, opts, problem);
    const ids = observer.finish(out.beams);
    const beams = out.beams.map((b, i) => ({ id: ids[i], ...b }));
    let chosen = -1;
    beams.forEach((b, i) => {
      if (out.answer !== null && answersEqual(b.answer, out.answer) && (chosen < 0 || b.score > beams[chosen].score)) chosen = i;
    });
    const x = out.metrics;
    // KV accounting straight from the arena: this call's change in each pool's counters.
    const kv1 = arena.stats();
    const delta = (k: 'prefixHitTokens' | 'recomputedTokens' | 'evictions' | 'preemptions' | 'copyOnWriteCopies' | 'relocatedPages' | 'hostTransferBytes') =>
      kv1.generator[k] - kv0.generator[k] + kv1.verifier[k] - kv0.verifier[k];
    const metrics: SolveMetrics = {
      latency_ms: x.latency_ms,
      generator_ms: x.generator_ms,
      verifier_ms: x.verifier_ms,
      goodput: x.goodput,
      precise_goodput: x.precise_goodput,
      tokens_generated: x.tokens_generated,
      tokens_speculative: x.tokens_speculative,
      tokens_speculative_accepted: x.tokens_speculative_accepted,
      speculation_batch: opts.speculationBatch,
      prefix_hit_tokens: delta('prefixHitTokens'),
      recomputed_tokens: delta('recomputedTokens'),
      iterations: x.iterations,
      peak_kv_pages_generator: kv1.generator.peakPagesInUse,
      peak_kv_pages_verifier: kv1.verifier.peakPagesInUse,
      kv_evictions: delta('evictions'),
      kv_preemptions: delta('preemptions'),
      kv_copy_on_write_copies: delta('copyOnWriteCopies'),
      kv_relocated_pages: delta('relocatedPages'),
      kv_pages_generator: kv1.generator.capacityPages,
      kv_pages_verifier: kv1.verifier.capacityPages,
      kv_pages_capacity_generator: arena.maxGeneratorPages,
      kv_pages_capacity_verifier: arena.verifierPagesFor(0),
      kv_shared_pages_generator: kv1.generator.peakSharedPages,
      kv_shared_pages_verifier: kv1.verifier.peakSharedPages,
      kv_cached_pages_generator: kv1.generator.cachedPages,
      kv_cached_pages_verifier: kv1.verifier.cachedPages,
      kv_host_transfer_bytes: delta('hostTransferBytes'),
      completed_beams: x.completed_beams,
      mean_tokens_per_completed_beam: x.mean_tokens_per_completed_beam,
      mean_completion_ms: x.mean_completion_ms,
    };
    const result: SolveResult = { answer: out.answer, chosen, beams, metrics, mode };
    emit({ type: 'answer', result });
    return result;
  } finally {
    // A finished search has released its beams; a cancelled or failed one has not: give back every page.
    generatorPool.releaseAll();
    verifierPool.releaseAll();
    countPages();
  }
}
