// The paper's metrics from a search result. Goodput: mean tokens per completed beam / total latency.
// Precise goodput: mean tokens per completed beam / mean beam completion time, where a beam's
// completion time is the search time (generator + verifier) until its result was final; over several
// problems, the sums of both means are divided.
import type { KvPoolStats } from '../runtime/kv-pool.ts';

/** What the metrics read of a search's result (search/search.ts SearchResult has these fields). */
export interface SearchOutcome {
  latencyMs: number;
  beams: ReadonlyArray<{ completed: boolean; tokens: number; completionMs: number }>;
  counters: {
    generatorMs: number;
    verifierMs: number;
    tokensGenerated: number;
    tokensSpeculative: number;
    tokensSpeculativeAccepted: number;
    tokensSpeculativeWasted: number;
    iterations: number;
    generatorCalls: number;
    verifierCalls: number;
  };
}

export interface ProblemMetrics {
  latency_ms: number;
  generator_ms: number;
  verifier_ms: number;
  goodput: number;
  precise_goodput: number;
  tokens_generated: number;
  tokens_speculative: number;
  tokens_speculative_accepted: number;
  tokens_speculative_wasted: number;
  prefix_hit_tokens: number;
  recomputed_tokens: number;
  iterations: number;
  peak_kv_pages_generator: number;
  peak_kv_pages_verifier: number;
  completed_beams: number;
  mean_tokens_per_completed_beam: number;
  mean_completion_ms: number;
  beam_completion_ms: number[];
  forward_calls: number;
}

/** A KV pool's part of a problem's metrics: its counters' change over the search, and its peak. */
export type PoolSnapshot = Pick<KvPoolStats, 'prefixHitTokens' | 'recomputedTokens' | 'peakPagesInUse'>;

/** A pool's snapshot from its stats before and after a search. */
export function poolDelta(before: KvPoolStats, after: KvPoolStats): PoolSnapshot {
  return {
    prefixHitTokens: after.prefixHitTokens - before.prefixHitTokens,
    recomputedTokens: after.recomputedTokens - before.recomputedTokens,
    peakPagesInUse: after.peakPagesInUse,
  };
}

/** Metrics of one solved problem (pool stats: the change over the search). */
export function problemMetrics(r: SearchOutcome, generatorPool: PoolSnapshot, verifierPool: PoolSnapshot): ProblemMetrics {
  const done = r.beams.filter((b) => b.completed);
  const meanTokens = done.length ? done.reduce((a, b) => a + b.tokens, 0) / done.length : 0;
  const meanCompletion = done.length ? done.reduce((a, b) => a + b.completionMs, 0) / done.length : 0;
  const perSecond = (tokens: number, ms: number): number => (ms > 0 ? (tokens * 1000) / ms : 0);
  const c = r.counters;
  return {
    latency_ms: r.latencyMs,
    generator_ms: c.generatorMs,
    verifier_ms: c.verifierMs,
    goodput: perSecond(meanTokens, r.latencyMs),
    precise_goodput: perSecond(meanTokens, meanCompletion),
    tokens_generated: c.tokensGenerated,
    tokens_speculative: c.tokensSpeculative,
    tokens_speculative_accepted: c.tokensSpeculativeAccepted,
    tokens_speculative_wasted: c.tokensSpeculativeWasted,
    prefix_hit_tokens: generatorPool.prefixHitTokens + verifierPool.prefixHitTokens,
    recomputed_tokens: generatorPool.recomputedTokens + verifierPool.recomputedTokens,
    iterations: c.iterations,
    peak_kv_pages_generator: generatorPool.peakPagesInUse,
    peak_kv_pages_verifier: verifierPool.peakPagesInUse,
    completed_beams: done.length,
    mean_tokens_per_completed_beam: meanTokens,
    mean_completion_ms: meanCompletion,
    beam_completion_ms: done.map((b) => b.completionMs),
    forward_calls: c.generatorCalls + c.verifierCalls,
  };
}

/** Precise goodput over problems: sum of mean tokens per completed beam / sum of mean completion times (tokens/s). */
export function preciseGoodputOver(problems: readonly ProblemMetrics[]): number {
  const tokens = problems.reduce((a, p) => a + p.mean_tokens_per_completed_beam, 0);
  const ms = problems.reduce((a, p) => a + p.mean_completion_ms, 0);
  return ms > 0 ? (tokens * 1000) / ms : 0;
}

/** Goodput over problems: sum of mean tokens per completed beam / sum of latencies (tokens/s). */
export function goodputOver(problems: readonly ProblemMetrics[]): number {
  const tokens = problems.reduce((a, p) => a + p.mean_tokens_per_completed_beam, 0);
  const ms = problems.reduce((a, p) => a + p.latency_ms, 0);
  return ms > 0 ? (tokens * 1000) / ms : 0;
}
