// The verifier phase: incremental PRM scoring. Each beam keeps its verifier KV (bos + problem + the
// steps scored so far) in the verifier pool, so only a new step's tokens are prefilled; the score is
// read at the step's separator. With LookAhead verification (FastTTS; search.ts calls it for the
// selection's survivors), the complete speculative steps a beam already holds are scored too, and their
// scores travel with the beam: the child that inherits them skips that verification next iteration.
// A score depends only on the tokens before it, so it is the same number whichever request computed it.
import type { SequenceChunk } from '../runtime/types.ts';
import { OutOfMemoryError } from '../errors.ts';
import { verifierStepText, type Beam } from './beam.ts';
import { timedForward, type SearchCounters, type SearchEnv, type SearchOptions } from './context.ts';
import { reserveKv } from './generation.ts';
import { batchMateComputes, prefixAwareOrder } from './prefix-scheduler.ts';
import type { KvSeq } from './search-kv.ts';

export interface VerificationPhase {
  env: SearchEnv;
  opts: SearchOptions;
  counters: SearchCounters;
  /** Steps that must be scored (the first `required` of each beam). */
  required: number;
  /** Also score complete speculative steps beyond `required` (LookAhead verification). */
  lookahead: boolean;
  /** Score only what fits in free pages, preempting and evicting nothing; the rest is left as it was
   *  for the verifier phase (early verification during the generator phase, generation.ts). */
  bestEffort?: boolean;
}

/** Appends the verifier tokens of the steps to be scored; returns the indices of the steps scored by this request. */
function appendSteps(p: VerificationPhase, b: Beam): number[] {
  const limit = p.lookahead ? b.steps.length : Math.min(b.steps.length, p.required);
  const scored: number[] = [];
  for (let i = 0; i < limit; i++) {
    const s = b.steps[i];
    if (s.verifierEnd > 0) continue;
    if (s.text === '' && i === b.steps.length - 1 && b.ended) {
      s.verifierEnd = b.verifierTokens.length; // an empty final step has nothing to score
      continue;
    }
    b.verifierTokens.push(...p.env.format.verifierStep(verifierStepText(s.text)));
    s.verifierEnd = b.verifierTokens.length;
    scored.push(i);
    if (i >= p.required) p.counters.lookaheadSteps++;
  }
  return scored;
}

export async function verifyPhase(p: VerificationPhase, beams: Beam[]): Promise<void> {
  const { env, opts, counters } = p;
  const pool = env.verifierPool;
  const t0 = env.clock.now();
  const work: Array<{ beam: Beam; steps: number[]; before: number }> = [];
  for (const b of beams) {
    const before = b.verifierTokens.length;
    const steps = appendSteps(p, b);
    if (steps.length > 0) work.push({ beam: b, steps, before });
  }
  const order = opts.techniques.prefixScheduling ? prefixAwareOrder(work.map((w) => w.beam.verifierTokens)).map((i) => work[i]) : work;
  let batch: typeof work = [];
  let batchTokens = 0;
  const inBatch = new Set<KvSeq>();
  // Victims when the pool is short: beams with nothing to score, then in reverse arrival (FIFO) order,
  // which spreads preemption over sibling groups so that their shared prefixes stay referenced.
  let next = 0;
  const victims = function* (): Generator<KvSeq> {
    const working = new Set(order.map((w) => w.beam));
    for (const b of beams) if (!working.has(b)) yield b.vkv;
    for (let i = beams.length - 1; i >= 0; i--) if (working.has(beams[i]) && !inBatch.has(beams[i].vkv)) yield beams[i].vkv;
  };
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const chunks: SequenceChunk[] = batch.map(({ beam, steps }) => ({
      blockTable: beam.vkv.pages,
      start: beam.vkv.computed,
      tokens: beam.verifierTokens.slice(beam.vkv.computed),
      outputRows: steps.map((i) => beam.steps[i].verifierEnd - 1 - beam.vkv.computed),
    }));
    const { result } = await timedForward(env, 'verifier', { chunks }, 0);
    counters.verifierCalls++;
    const now = env.clock.now();
    let row = 0;
    for (const { beam, steps } of batch) {
      pool.commit(beam.vkv, beam.verifierTokens, beam.verifierTokens.length);
      for (const i of steps) {
        beam.steps[i].score = result.scores![row++];
        beam.steps[i].scoredAt = now;
      }
    }
    batch = [];
    batchTokens = 0;
    inBatch.clear();
  };
  for (; next < order.length; next++) {
    const w = order[next];
    const b = w.beam;
    const pending = (): number => b.verifierTokens.length - b.vkv.computed;
    if (batch.length > 0 && batchTokens + pending() > opts.maxPrefillTokens) await flush();
    if (
      opts.techniques.prefixScheduling &&
      batch.length > 0 &&
      b.vkv.pages.length === 0 &&
      b.vkv.computed === 0 &&
      batchMateComputes(
        b.verifierTokens,
        pool.cachedPrefix(b.verifierTokens, b.steps[w.steps[0]].verifierEnd),
        batch.map((x) => ({ tokens: x.beam.verifierTokens, computed: x.beam.vkv.computed })),
        pool.pageSize,
      )
    ) {
      await flush(); // the batch computes this beam's prefix: let the cache serve it
    }
    // A recomputed prefix must stop before the first separator whose score this request reads.
    const attachLimit = b.steps[w.steps[0]].verifierEnd;
    if (p.bestEffort) {
      const attached = b.vkv.pages.length === 0 && b.vkv.computed === 0;
      if (attached) pool.attach(b.vkv, b.verifierTokens, attachLimit);
      if (!pool.reserveFree(b.vkv, b.verifierTokens.length)) {
        if (attached) pool.release(b.vkv);
        b.verifierTokens.length = w.before; // not scored now: as it was, for the verifier phase
        for (const st of b.steps) if (st.verifierEnd > w.before) st.verifierEnd = 0;
        continue;
      }
    } else if (!reserveKv(pool, b.vkv, b.verifierTokens, b.verifierTokens.length, victims(), counters, attachLimit)) {
      await flush();
      if (!reserveKv(pool, b.vkv, b.verifierTokens, b.verifierTokens.length, victims(), counters, attachLimit)) {
        throw new OutOfMemoryError(`verifier KV pool of ${pool.capacity} pages cannot hold one beam of ${b.verifierTokens.length} tokens`);
      }
    }
    batch.push(w);
    inBatch.add(b.vkv);
    batchTokens += pending();
  }
  await flush();
  counters.verifierMs += env.clock.now() - t0;
}
