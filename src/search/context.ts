// What a search runs on (models, pools, tokenizer, clock) and with (options), and the counters it
// keeps while running. Shared by the generation and verification phases and the strategies.
import type { ModelRunner, ForwardBatch, ForwardResult } from '../runtime/types.ts';
import type { SamplingOptions } from '../runtime/sampler.ts';
import type { Clock, TraceRecorder } from '../metrics/trace.ts';
import type { TextCodec } from './step-text.ts';
import { flushCopies } from '../runtime/page-pool.ts';
import { forwardInParts } from '../runtime/forward-batch.ts';
import type { SearchKvPool } from './search-kv.ts';
import type { SearchEvents } from './events.ts';
import type { PlannerWorkload } from './memory-planner.ts';
import type { Aggregation, Beam } from './beam.ts';
import type { SelectionRule } from './answer.ts';

/** How problems and steps become tokens for each model. */
export interface PromptFormat {
  /** The generator's prompt (chat template applied) for a problem. */
  generatorPrompt(problem: string): number[];
  /** The verifier's tokens before the first step (Skywork: bos + problem + "\n"). */
  verifierPrefix(problem: string): number[];
  /** The verifier's tokens for one step, its separator last: the score is read there. */
  verifierStep(stepText: string): number[];
  isEos(token: number): boolean;
}

export interface SearchEnv {
  generator: ModelRunner;
  /** Absent for methods without a verifier (greedy, majority). */
  verifier?: ModelRunner;
  codec: TextCodec;
  format: PromptFormat;
  clock: Clock;
  generatorPool: SearchKvPool;
  verifierPool: SearchKvPool;
  trace?: TraceRecorder;
  /** Most new tokens one forward call may carry (the runner's activation buffers); longer work is split. */
  maxBatchTokens?: number;
  /** Told of each beam as the search starts, forks, extends and lets go of it (the API's event stream). */
  events?: SearchEvents;
}

export type SearchMethod = 'greedy' | 'majority' | 'best-of-n' | 'beam' | 'dvts';

/** The FastTTS techniques, each switchable for ablations (all off = the baseline). */
export interface Techniques {
  /** Speculative beam extension with score-bin priorities and duplicate-then-truncate. */
  speculation: boolean;
  /** LookAhead verification: a survivor's complete speculative steps are scored in the verifier phase that selected it. */
  lookahead: boolean;
  /** Dynamic prefix-aware scheduling; off = FIFO. */
  prefixScheduling: boolean;
  /** Asymmetric generator/verifier memory split; off = static even split. */
  memoryPlanner: boolean;
  /** With speculation: score each standard step as soon as it is done, so that speculation skips the beams
   *  the selection will surely prune and serves likely survivors first (generation.ts). */
  earlyVerification: boolean;
}

export const BASELINE_TECHNIQUES: Techniques = {
  speculation: false,
  lookahead: false,
  prefixScheduling: false,
  memoryPlanner: false,
  earlyVerification: false,
};
export const FASTTTS_TECHNIQUES: Techniques = { speculation: true, lookahead: true, prefixScheduling: true, memoryPlanner: true, earlyVerification: true };

export interface SearchOptions {
  method: SearchMethod;
  n: number;
  beamWidth: number;
  /** Iterations (steps) of beam search / DVTS; the last one generates to the end. */
  iterations: number;
  agg: Aggregation;
  select: SelectionRule;
  sampling: SamplingOptions;
  /** New tokens per step (and for the final iteration's remainder), as search-and-learn's max_tokens. */
  maxStepTokens: number;
  filterDuplicates: boolean;
  /** Keep the top n completed beams by score (search-and-learn's sort_completed); off: the first n to complete. */
  sortCompleted: boolean;
  techniques: Techniques;
  /**
   * Largest decode batch that costs about as much as a batch of one (from calibration.ts); speculation
   * only fills slots below it. 0 disables speculation in effect.
   */
  speculationBatch: number;
  /**
   * Fraction R of a duplicated beam's speculative tokens its non-inheriting copies keep (the paper's
   * duplicate-then-truncate). 0 (default) keeps exact equivalence with the baseline; R > 0 reuses
   * tokens sampled under the parent's random stream in the copies, which changes their text.
   */
  siblingKeepFraction: number;
  /** Decode batch limit (vLLM's max_num_seqs). */
  maxBatch: number;
  /** New tokens per verifier forward call (vLLM's max_num_batched_tokens). */
  maxPrefillTokens: number;
  /** Called between iterations with the workload to re-split KV pages (the asymmetric planner); null keeps the split. */
  planMemory?: (w: IterationWorkload) => MemorySplit | null;
  /**
   * Observes each iteration after verification, before selection (tests, progress reports, the
   * planner's observed time). `ms`: the iteration's own time, from applying its split to the end of
   * its verifier phase (offload transfers included).
   */
  onIteration?: (iteration: number, beams: readonly Beam[], required: number, ms: number) => void;
}

/** KV pages per pool for an iteration, as the memory planner chose them. */
export interface MemorySplit {
  generatorPages: number;
  verifierPages: number;
  /**
   * Offload mode (pools of one arena only): each phase gets the whole arena and the idle model's K/V
   * waits in host memory (KvArena.activate); the page counts are then not used.
   */
  offload?: boolean;
}

/**
 * What the search tells the memory planner before an iteration: the planner's workload (the beams'
 * latest step lengths; distinct tokens over all beams and the longest beam, per model, all measured),
 * the iteration, and the pages each pool needs at the least.
 */
export interface IterationWorkload extends Required<Omit<PlannerWorkload, 'verifierNewTokens'>> {
  iteration: number;
  /** Pages each pool needs at the least: the longest beam's context plus room for a step. */
  minGeneratorPages: number;
  minVerifierPages: number;
}

export interface SearchCounters {
  tokensGenerated: number;
  tokensSpeculative: number;
  tokensSpeculativeAccepted: number;
  tokensSpeculativeWasted: number;
  generatorMs: number;
  verifierMs: number;
  generatorCalls: number;
  verifierCalls: number;
  preemptions: number;
  iterations: number;
  /** Steps whose generation was skipped entirely because speculation had produced them. */
  stepsFromSpeculation: number;
  /** Steps scored ahead of time by LookAhead verification. */
  lookaheadSteps: number;
  /** Children that took over a speculative shadow's tokens at a selection, and of them those started more
   *  than one selection ahead (a shadow of a speculative step, speculative.ts). */
  shadowsPromoted: number;
  nestedShadowsPromoted: number;
  /** Standard steps scored during the generator phase (early verification). */
  stepsScoredEarly: number;
}

export function newCounters(): SearchCounters {
  return {
    tokensGenerated: 0,
    tokensSpeculative: 0,
    tokensSpeculativeAccepted: 0,
    tokensSpeculativeWasted: 0,
    generatorMs: 0,
    verifierMs: 0,
    generatorCalls: 0,
    verifierCalls: 0,
    preemptions: 0,
    iterations: 0,
    stepsFromSpeculation: 0,
    lookaheadSteps: 0,
    shadowsPromoted: 0,
    nestedShadowsPromoted: 0,
    stepsScoredEarly: 0,
  };
}

/** Runs page copies then a forward call, timing it and recording it in the trace. */
export async function timedForward(
  env: SearchEnv,
  model: 'generator' | 'verifier',
  batch: ForwardBatch,
  speculativeTokens: number,
): Promise<{ result: ForwardResult; ms: number }> {
  const runner = model === 'generator' ? env.generator : env.verifier!;
  const pool = model === 'generator' ? env.generatorPool : env.verifierPool;
  // Offload mode brings a pool back before its phase (search.ts); a forward on lent-out pages would be garbage.
  if (pool.kv.isOffloaded) throw new Error(`${model} forward call while its KV pool is offloaded to host memory`);
  const t0 = env.clock.now();
  await flushCopies(runner, pool.takeCopies());
  const result = await forwardInParts(runner, batch, env.maxBatchTokens ?? Infinity);
  const ms = env.clock.now() - t0;
  if (env.trace) {
    let newTokens = 0,
      context = 0,
      pages = 0,
      rows = 0;
    for (const c of batch.chunks) {
      newTokens += c.tokens.length;
      context += c.start;
      pages += Math.ceil((c.start + c.tokens.length) / runner.pageSize);
      rows += c.outputRows.length;
    }
    env.trace.record({
      model,
      sequences: batch.chunks.length,
      newTokens,
      contextTokens: context,
      pagesTouched: pages,
      ms,
      at: t0,
      outputRows: rows,
      speculativeTokens,
    });
  }
  return { result, ms };
}

/** search-and-learn's defaults (temperature 0.8, top_p 1, beam width 4, 2048 tokens), FastTTS mode. */
export function defaultSearchOptions(o: Partial<SearchOptions> = {}): SearchOptions {
  return {
    method: 'beam',
    n: 8,
    beamWidth: 4,
    iterations: 10,
    agg: 'last',
    select: 'weighted',
    sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 0 },
    maxStepTokens: 2048,
    filterDuplicates: false,
    sortCompleted: false,
    techniques: FASTTTS_TECHNIQUES,
    speculationBatch: 0,
    siblingKeepFraction: 0,
    maxBatch: 256,
    maxPrefillTokens: 4096,
    ...o,
  };
}
