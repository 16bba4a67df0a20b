// The generator phase of an iteration: continuous batching of decode steps over the beams until every
// beam has its required steps (or ended), with speculative extension filling spare batch slots when
// FastTTS enables it. A sequence's forward chunk is always "its tokens not yet in the KV cache", so a
// decode step, a prompt prefill, a prefill after a step cut and a recompute after preemption are the
// same operation; the next token is sampled at position = sequence length with the beam's lineage.
// With early verification, steps finished mid-phase are scored every few decode steps (best effort: free
// verifier pages only), and the scores order the speculative candidates.
import { sampleToken } from '../runtime/sampler.ts';
import type { SequenceChunk } from '../runtime/types.ts';
import { OutOfMemoryError } from '../errors.ts';
import { allShadows, type Beam } from './beam.ts';
import { acceptToken } from './accept-token.ts';
import { addSpeculation, type SpeculationPhase } from './speculative.ts';
import { timedForward, type SearchCounters } from './context.ts';
import { batchMateComputes, prefixAwareOrder } from './prefix-scheduler.ts';
import type { KvSeq, SearchKvPool } from './search-kv.ts';
import type { SearchEvents } from './events.ts';

export interface GenerationPhase extends SpeculationPhase {
  counters: SearchCounters;
  /** Total iterations of the search: the last one generates to the end. */
  iterations: number;
  /**
   * Scores standard steps as soon as they are done, while stragglers still generate (speculation only):
   * knowing them, speculation skips the beams this selection will surely prune and serves likely
   * survivors first. The scores are the ones the verifier phase would compute (verification.ts).
   */
  verifyEarly?: (beams: Beam[]) => Promise<void>;
}

/** Early verification batches the steps finished over this many decode steps: one verifier call per batch. */
const EARLY_VERIFY_EVERY = 8;

const needsStandard = (b: Beam, required: number): boolean => b.ended === null && b.steps.length < required;

/** Reserves KV for positions [0, length) of `seq`, preempting victims' KV (in order) when short. */
export function reserveKv(
  pool: SearchKvPool,
  seq: KvSeq,
  tokens: ArrayLike<number>,
  length: number,
  victims: Iterable<KvSeq>,
  counters: SearchCounters,
  attachLimit = length,
  speculative?: Set<KvSeq>,
  events?: SearchEvents,
): boolean {
  // A released sequence first takes back whatever of its prefix is still cached (up to attachLimit - 1).
  if (seq.pages.length === 0 && seq.computed === 0) {
    pool.attach(seq, tokens, attachLimit);
    events?.resumed(seq);
  }
  if (pool.reserve(seq, length)) return true;
  for (const v of victims) {
    if (v === seq || v.pages.length === 0) continue;
    // Speculative K/V goes first and is freed outright, so that it does not crowd the prefix cache.
    pool.preempt(v, speculative?.has(v) ?? false);
    events?.released(v);
    counters.preemptions++;
    if (pool.reserve(seq, length)) return true;
  }
  return false;
}

/** Runs the generator phase; returns when every beam has `required` steps or has ended. */
export async function generatePhase(p: GenerationPhase, beams: Beam[]): Promise<void> {
  const { env, opts, counters } = p;
  const pool = env.generatorPool;
  const V = env.generator.config.vocabSize;
  const t0 = env.clock.now();
  const order = opts.techniques.prefixScheduling ? prefixAwareOrder(beams.map((b) => b.tokens)).map((i) => beams[i]) : beams.slice();
  const specBudget = p.speculativeSteps && opts.techniques.speculation ? opts.speculationBatch : 0;
  // Only where speculation can run (a budget of 1, a CPU route's, never leaves it a slot).
  const early = specBudget > 1 && p.verifyEarly ? { pending: [] as Beam[], queued: new Set<Beam>(), sinceCall: 0, ms: 0 } : null;

  for (;;) {
    const standard = order.filter((b) => needsStandard(b, p.required));
    // Force-finish: speculation never outlives the standard work of the phase.
    if (standard.length === 0) break;
    if (early && early.pending.length > 0 && ++early.sinceCall >= EARLY_VERIFY_EVERY) {
      const tv = env.clock.now();
      const done = early.pending.splice(0);
      await p.verifyEarly!(done);
      counters.stepsScoredEarly += done.filter((b) => b.steps[p.required - 1]?.score != null).length;
      early.sinceCall = 0;
      early.ms += env.clock.now() - tv;
    }
    const batch: Beam[] = [];
    const inBatch = new Set<KvSeq>();
    // Victims when memory is short: beams not needed for standard work first, then the latest-admitted.
    // Victims in reverse arrival (FIFO) order even when admission follows prefix order: taking the
    // last-arrived beams spreads preemption over sibling groups, so their shared prefixes stay referenced.
    const victims = function* (): Generator<KvSeq> {
      for (const b of beams) for (const s of allShadows(b)) if (!inBatch.has(s.kv)) yield s.kv;
      for (let i = beams.length - 1; i >= 0; i--) if (!needsStandard(beams[i], p.required) && !inBatch.has(beams[i].kv)) yield beams[i].kv;
      for (let i = beams.length - 1; i >= 0; i--) if (needsStandard(beams[i], p.required) && !inBatch.has(beams[i].kv)) yield beams[i].kv;
    };
    const mates: Array<{ tokens: number[]; computed: number }> = [];
    const shadowKv = new Set<KvSeq>();
    for (const b of beams) for (const s of allShadows(b)) shadowKv.add(s.kv);
    for (const b of standard) {
      if (batch.length >= opts.maxBatch) break;
      if (
        opts.techniques.prefixScheduling &&
        b.kv.pages.length === 0 &&
        b.kv.computed === 0 &&
        batch.length > 0 &&
        batchMateComputes(b.tokens, pool.cachedPrefix(b.tokens), mates, pool.pageSize)
      )
        continue;
      if (!reserveKv(pool, b.kv, b.tokens, b.tokens.length, victims(), counters, b.tokens.length, shadowKv, env.events)) break; // FIFO: later beams wait
      mates.push({ tokens: b.tokens, computed: b.kv.computed });
      batch.push(b);
      inBatch.add(b.kv);
    }
    if (batch.length === 0) {
      throw new OutOfMemoryError(`generator KV pool of ${pool.capacity} pages cannot hold one beam of ${standard[0].tokens.length} tokens`);
    }
    const standardCount = batch.length;
    if (specBudget > standardCount) addSpeculation(p, batch, inBatch, specBudget);
    const chunks: SequenceChunk[] = batch.map((b) => ({
      blockTable: b.kv.pages,
      start: b.kv.computed,
      tokens: b.tokens.slice(b.kv.computed),
      outputRows: [b.tokens.length - b.kv.computed - 1],
    }));
    const specTokens = batch.length - standardCount;
    const { result } = await timedForward(env, 'generator', { chunks }, specTokens);
    counters.generatorCalls++;
    for (let i = 0; i < batch.length; i++) {
      const b = batch[i];
      pool.commit(b.kv, b.tokens, b.tokens.length);
      env.events?.extended(b);
      const token = sampleToken(result.logits!, i * V, V, opts.sampling, b.lineage, b.tokens.length);
      counters.tokensGenerated++;
      if (i >= standardCount) {
        counters.tokensSpeculative++;
        b.speculativeTokens++;
      }
      acceptToken(env, opts, p.iterations, b, token);
      if (b.ended !== null && b.endedAt < 0) b.endedAt = env.clock.now();
      if (early && i < standardCount && !needsStandard(b, p.required) && !early.queued.has(b)) {
        early.queued.add(b);
        early.pending.push(b);
      }
    }
  }
  counters.generatorMs += env.clock.now() - t0 - (early?.ms ?? 0);
}
