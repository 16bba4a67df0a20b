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
import { StepTextDecoder } from './step-text.ts';
import { aggregateScore, allShadows, forkBeam, type Beam } from './beam.ts';
import { childLineage } from '../runtime/sampler.ts';
import { timedForward, type SearchCounters, type SearchEnv, type SearchOptions } from './context.ts';
import { batchMateComputes, prefixAwareOrder } from './prefix-scheduler.ts';
import type { KvSeq, SearchKvPool } from './search-kv.ts';

export interface GenerationPhase {
  env: SearchEnv;
  opts: SearchOptions;
  counters: SearchCounters;
  /** Total iterations of the search: the last one generates to the end. */
  iterations: number;
  /** Steps each beam must hold after this phase (Infinity: generate to the end). */
  required: number;
  /** Extra steps each beam may generate speculatively (0 or absent: none), from speculative.ts. */
  speculativeSteps?: Map<Beam, number>;
  /** Speculative beams in priority order (best score bin first). */
  speculationOrder?: Beam[];
  /** Copies each surviving beam will get: speculation also runs its future siblings 1 .. copies - 1. */
  copies?: number;
  /**
   * Scores standard steps as soon as they are done, while stragglers still generate (speculation only):
   * knowing them, speculation skips the beams this selection will surely prune and serves likely
   * survivors first. The scores are the ones the verifier phase would compute (verification.ts).
   */
  verifyEarly?: (beams: Beam[]) => Promise<void>;
  /** Beams this selection keeps (beam search: n / beam width); with verifyEarly, ranks speculation. */
  survivors?: number;
}

/** Early verification batches the steps finished over this many decode steps: one verifier call per batch. */
const EARLY_VERIFY_EVERY = 8;

const needsStandard = (b: Beam, required: number): boolean => b.ended === null && b.steps.length < required;

/** Reserves KV for positions [0, length) of `seq`, preempting victims' KV (in order) when short. */
export function reserveKv(pool: SearchKvPool, seq: KvSeq, tokens: ArrayLike<number>, length: number, victims: Iterable<KvSeq>, counters: SearchCounters, attachLimit = length, speculative?: Set<KvSeq>): boolean {
  // A released sequence first takes back whatever of its prefix is still cached (up to attachLimit - 1).
  if (seq.pages.length === 0 && seq.computed === 0) pool.attach(seq, tokens, attachLimit);
  if (pool.reserve(seq, length)) return true;
  for (const v of victims) {
    if (v === seq || v.pages.length === 0) continue;
    // Speculative K/V goes first and is freed outright, so that it does not crowd the prefix cache.
    pool.preempt(v, speculative?.has(v) ?? false);
    counters.preemptions++;
    if (pool.reserve(seq, length)) return true;
  }
  return false;
}

/** The token budget of a step: its own tokens, or for the final iteration everything since it began. */
function limitStart(b: Beam, iterations: number): number {
  const stepIndex = b.steps.length;
  if (stepIndex < iterations - 1) return b.currentStart;
  return iterations - 1 < b.steps.length ? b.steps[iterations - 1].start : b.currentStart;
}

/** Ends the beam: its step in progress becomes its final step. */
function endBeam(b: Beam, reason: 'eos' | 'length'): void {
  b.steps.push({ text: b.decoder.text, start: b.currentStart, end: b.tokens.length, score: null, verifierEnd: 0, scoredAt: -1 });
  b.ended = reason;
}

/** Applies one sampled token to a beam: EOS, step cut, length limits. */
export function acceptToken(env: SearchEnv, opts: SearchOptions, iterations: number, b: Beam, token: number): void {
  if (env.format.isEos(token)) {
    endBeam(b, 'eos');
    return;
  }
  b.tokens.push(token);
  const cut = b.decoder.push(token);
  if (cut) {
    const keep = b.currentStart + cut.keepTokens;
    if (keep < b.tokens.length) {
      b.tokens.length = keep;
      const pool = env.generatorPool;
      if (b.kv.computed > keep || b.kv.pages.length * pool.pageSize > keep) pool.truncate(b.kv, keep);
      b.tokens.push(...cut.replacement);
    }
    b.steps.push({ text: cut.text, start: b.currentStart, end: b.tokens.length, score: null, verifierEnd: 0, scoredAt: -1 });
    b.currentStart = b.tokens.length;
    b.decoder = new StepTextDecoder(env.codec);
  }
  if (b.ended === null) {
    // After a cut this measures the new (empty) step, or in the final iteration everything since it began.
    if (b.tokens.length - limitStart(b, iterations) >= opts.maxStepTokens || b.tokens.length >= env.generator.config.maxPositions) endBeam(b, 'length');
  }
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
  const canSpeculate = (b: Beam): boolean => b.ended === null && b.steps.length >= p.required && b.steps.length < p.required + (p.speculativeSteps!.get(b) ?? 0) && b.tokens.length < env.generator.config.maxPositions;

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
      if (opts.techniques.prefixScheduling && b.kv.pages.length === 0 && b.kv.computed === 0 && batch.length > 0 &&
        batchMateComputes(b.tokens, pool.cachedPrefix(b.tokens), mates, pool.pageSize)) continue;
      if (!reserveKv(pool, b.kv, b.tokens, b.tokens.length, victims(), counters, b.tokens.length, shadowKv)) break; // FIFO: later beams wait
      mates.push({ tokens: b.tokens, computed: b.kv.computed });
      batch.push(b);
      inBatch.add(b.kv);
    }
    if (batch.length === 0) {
      throw new OutOfMemoryError(`generator KV pool of ${pool.capacity} pages cannot hold one beam of ${standard[0].tokens.length} tokens`);
    }
    const standardCount = batch.length;
    if (specBudget > standardCount) {
      // Keep room free for the standard beams' growth (a tenth of the pool, at least a page each):
      // speculation must not cause preemption or evict cached prefixes.
      const reserveForStandard = Math.max(standardCount + 1, Math.ceil(pool.capacity / 10));
      const tryAdd = (b: Beam): void => {
        if (batch.length >= specBudget || !canSpeculate(b) || inBatch.has(b.kv)) return;
        // Speculation only takes free pages: it never evicts cached prefixes or preempts anyone.
        if (pool.freePages < reserveForStandard) return;
        const attached = b.kv.pages.length === 0 && b.kv.computed === 0;
        if (attached) pool.attach(b.kv, b.tokens, b.tokens.length);
        if (!pool.reserveFree(b.kv, b.tokens.length)) {
          if (attached) pool.release(b.kv); // do not pin cached pages for work that is not running
          return;
        }
        batch.push(b);
        inBatch.add(b.kv);
        p.speculativeSteps!.set(b, p.speculativeSteps!.get(b) ?? 0);
      };
      // Candidates: each beam done with its step, and the children a selection would make from it, after
      // this step or after one of its speculative steps (shadows, nested: a shadow's own children too),
      // within the beam's M steps ahead; shallowest first (the next iteration's critical path), then by
      // survivalOrder's rank. Ended beams have no children after their final step.
      const cands: Array<{ beam: Beam | null; parent: Beam; level: number; k: number; depth: number; rank: number }> = [];
      // A shadow runs as far ahead as the beam it descends from may (this iteration's plan, M).
      const visit = (x: Beam, firstLevel: number, rank: number, ahead: number): void => {
        p.speculativeSteps!.set(x, ahead);
        if (x.ended === null) cands.push({ beam: x, parent: x, level: -1, k: 0, depth: x.steps.length - p.required, rank });
        if ((p.copies ?? 1) <= 1 || p.required === Infinity) return;
        const lastLevel = Math.min(x.steps.length - (x.ended === null ? 0 : 1), p.required + ahead - 1);
        for (let level = firstLevel; level <= lastLevel; level++) {
          for (let k = 1; k < p.copies!; k++) {
            const sh = x.shadows?.get(level)?.[k - 1] ?? null;
            cands.push({ beam: sh, parent: x, level, k, depth: (sh ? sh.steps.length : level) - p.required, rank });
            if (sh) visit(sh, level + 1, rank, ahead);
          }
        }
      };
      const byPriority = survivalOrder(p, p.speculationOrder ?? []);
      byPriority.forEach((b, rank) => visit(b, p.required, rank, p.speculativeSteps!.get(b) ?? 0));
      cands.sort((a, b) => a.depth - b.depth || a.rank - b.rank || a.k - b.k);
      for (const c of cands) {
        if (batch.length >= specBudget) break;
        let beam = c.beam;
        if (!beam) {
          // Future child k: its tokens depend only on its lineage and start, both known now.
          const parent = c.parent;
          if (pool.freePages < reserveForStandard + 1) continue; // a fork copies one partial page
          parent.shadows ??= new Map();
          const siblings = parent.shadows.get(c.level) ?? [];
          parent.shadows.set(c.level, siblings);
          while (siblings.length < c.k) {
            const sh = forkBeam(parent, c.level, childLineage(parent.lineage, siblings.length + 1), env.codec, pool, env.verifierPool, false);
            p.speculativeSteps!.set(sh, p.speculativeSteps!.get(parent) ?? 0);
            sh.nestedShadow = c.level > p.required;
            siblings.push(sh);
          }
          beam = siblings[c.k - 1];
        }
        tryAdd(beam);
      }
    }
    const chunks: SequenceChunk[] = batch.map((b) => ({
      blockTable: b.kv.pages, start: b.kv.computed, tokens: b.tokens.slice(b.kv.computed), outputRows: [b.tokens.length - b.kv.computed - 1],
    }));
    const specTokens = batch.length - standardCount;
    const { result } = await timedForward(env, 'generator', { chunks }, specTokens);
    counters.generatorCalls++;
    for (let i = 0; i < batch.length; i++) {
      const b = batch[i];
      pool.commit(b.kv, b.tokens, b.tokens.length);
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

/**
 * The beams whose speculation may run, most useful first: those done with this iteration's step, by
 * score bin (speculation.ts); with early scores, the beams this selection will surely prune (at least
 * `survivors` others already score higher) drop out and the rest go by their new score, unscored last.
 */
function survivalOrder(p: GenerationPhase, byBin: readonly Beam[]): Beam[] {
  const done = byBin.filter((b) => b.steps.length >= p.required);
  if (!p.verifyEarly || p.survivors === undefined) return done;
  // Each beam's aggregated score through this step, once it is known.
  const scores = new Map<Beam, number>();
  for (const b of done) if (b.steps[p.required - 1]?.score != null) scores.set(b, aggregateScore(b.steps, p.opts.agg, p.required));
  // Competitors: beams that go on to the selection (not ended within this step) with a known score.
  const known = done.filter((b) => scores.has(b) && !(b.ended !== null && b.steps.length <= p.required)).map((b) => scores.get(b)!).sort((a, b) => b - a);
  const higher = (s: number): number => { // known scores > s (known is descending)
    let lo = 0, hi = known.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (known[mid] > s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const scored: Array<{ b: Beam; better: number }> = [];
  const unscored: Beam[] = [];
  for (const b of done) {
    const s = scores.get(b);
    if (s === undefined) unscored.push(b);
    else scored.push({ b, better: higher(s) });
  }
  return [...scored.filter((x) => x.better < p.survivors!).sort((a, b) => a.better - b.better).map((x) => x.b), ...unscored];
}
