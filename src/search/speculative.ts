// Speculative beam extension (FastTTS technique 1). During the generator phase, a beam that finished
// its step keeps decoding into its next step(s) in batch slots that would otherwise idle (generation.ts
// fills them only below the calibrated nearly-free batch size, and stops them the moment the last
// standard beam finishes). Which beams go first, and how far, follows their previous verifier score:
// scores are cut into B bins (B = beam width), and a beam in bin j (1 = best) may run M = B - j + 1
// steps ahead.
//
// Duplicate-then-truncate, the exact variant. The sampler draws a token's randomness from (seed,
// lineage, position), and childLineage(parent, 0) === parent. So when a surviving beam is duplicated,
// the copy that inherits the lineage (child 0) would sample, in the baseline's next iteration, exactly
// the tokens the parent already sampled speculatively: it keeps them all (and their LookAhead scores).
// Its siblings have new lineages and the baseline would have them sample fresh tokens from the step
// boundary, so they keep none of the parent's tokens (R = 0). Every beam's text is then token-for-token
// the baseline's. Siblings still get a head start: a sibling's tokens depend only on its lineage,
// childLineage(parent, k), and its start, the parent's step boundary, both known as soon as the parent
// finishes its step; so speculation also runs these future siblings ("shadows", addSpeculation) in free
// slots, and a surviving parent's copies 1.. take over their shadows' tokens. The same holds one level
// down: once a beam (or a shadow) holds a speculative step, the children a later selection would make
// from it are known too, so shadows have shadows, up to the beam's M steps ahead. Without them the search
// could only get one step ahead of a straggler; with them a beam that keeps surviving keeps its head start.
// Early verification (technique earlyVerification) steers the slots: each standard step is scored as soon
// as it is done, and the beams this selection will surely prune (at least n / beam_width others already
// score higher) stop speculating; the rest go by their new score (survivalOrder, below).
// The paper instead lets every copy keep a fraction R (about 0.85) of the parent's speculative tokens;
// `siblingKeepFraction` offers that, at the price of exactness: the siblings' kept tokens come from the
// parent's random stream, so their texts (and possibly the answer) differ from the baseline's.
import { aggregateScore, forkBeam, type Aggregation, type Beam } from './beam.ts';
import { childLineage } from '../runtime/sampler.ts';
import { acceptToken } from './accept-token.ts';
import type { SearchCounters, SearchEnv, SearchOptions } from './context.ts';
import type { KvSeq } from './search-kv.ts';

export interface SpeculationPlan {
  /** Speculative steps each beam may run ahead (M). */
  steps: Map<Beam, number>;
  /** Beams by priority: best score bin first (stable). */
  order: Beam[];
}

/** Bins beams by the aggregated score of their first `scoredSteps` steps; M = B - bin + 1. */
export function speculationPlan(beams: readonly Beam[], bins: number, agg: Aggregation, scoredSteps: number): SpeculationPlan {
  const B = Math.max(1, bins);
  const scores = beams.map((b) => aggregateScore(b.steps, agg, scoredSteps));
  const rank = beams.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const steps = new Map<Beam, number>();
  rank.forEach((i, r) => {
    const bin = Math.floor((r * B) / beams.length) + 1;
    steps.set(beams[i], B - bin + 1);
  });
  return { steps, order: rank.map((i) => beams[i]) };
}

/**
 * The beams that continue from a survivor: `count` copies holding its first `stepCount` steps. Copy 0
 * is the survivor itself with everything it generated ahead; the others start at the step boundary
 * (or, with siblingKeepFraction R > 0, with the first R of its speculative tokens).
 */
export function duplicateBeam(
  env: SearchEnv,
  opts: SearchOptions,
  counters: SearchCounters,
  iterations: number,
  parent: Beam,
  stepCount: number,
  count: number,
  now: number,
): Beam[] {
  const out: Beam[] = [parent];
  parent.bornAt = now;
  const boundary = stepCount === 0 ? parent.promptLength : parent.steps[stepCount - 1].end;
  const ahead = parent.tokens.length - boundary;
  // This selection's shadows; those at later boundaries stay with copy 0 (the parent continues from there).
  const shadows = parent.shadows?.get(stepCount) ?? [];
  parent.shadows?.delete(stepCount);
  for (let i = 1; i < count; i++) {
    const shadow = shadows[i - 1];
    if (shadow) {
      shadows[i - 1] = undefined as unknown as Beam;
      if (opts.siblingKeepFraction === 0) {
        out.push(promoteShadow(env, counters, parent, shadow, stepCount, now));
        continue;
      }
      discardBeam(env, counters, shadow, true);
    }
    const child = forkBeam(parent, stepCount, childLineage(parent.lineage, i), env.codec, env.generatorPool, env.verifierPool);
    env.events?.forked(child, parent);
    child.bornAt = now;
    const keep = parent.ended === null || parent.steps.length > stepCount ? Math.floor(opts.siblingKeepFraction * ahead) : 0;
    if (keep > 0) {
      // The paper's truncation: replay the first `keep` speculative tokens into the copy (not exact).
      for (let t = boundary; t < boundary + keep && child.ended === null; t++) acceptToken(env, opts, iterations, child, parent.tokens[t]);
    }
    out.push(child);
  }
  for (const s of shadows) if (s) discardBeam(env, counters, s, true);
  counters.tokensSpeculativeAccepted += parent.speculativeTokens;
  parent.speculativeTokens = 0;
  return out;
}

/** A speculative future sibling becomes the real one: the parent's scored steps and verifier state, its own tokens. */
function promoteShadow(env: SearchEnv, counters: SearchCounters, parent: Beam, shadow: Beam, stepCount: number, now: number): Beam {
  for (let i = 0; i < stepCount; i++) shadow.steps[i] = { ...parent.steps[i] };
  const vend = stepCount === 0 ? parent.verifierPrefixLength : parent.steps[stepCount - 1].verifierEnd;
  env.verifierPool.release(shadow.vkv);
  shadow.verifierTokens = parent.verifierTokens.slice(0, vend);
  shadow.vkv = env.verifierPool.fork(parent.vkv, vend);
  shadow.bornAt = now;
  counters.tokensSpeculativeAccepted += shadow.speculativeTokens;
  shadow.speculativeTokens = 0;
  counters.shadowsPromoted++;
  if (shadow.nestedShadow) counters.nestedShadowsPromoted++;
  return shadow;
}

/**
 * A pruned beam's speculation is wasted. `dead`: the search will never extend this beam again (pruned,
 * or complete), so its private generator pages are freed at once rather than left in the prefix cache:
 * speculation only takes free pages (generation.ts), and under a tight budget a pool whose cache holds
 * dead branches has none, so speculation would stop exactly where memory is short. FastTTS mode only
 * (search.ts passes it with speculation on): the baseline keeps vLLM's behaviour, finished requests'
 * blocks cached until evicted least-recently-used.
 */
export function discardBeam(env: SearchEnv, counters: SearchCounters, b: Beam, speculative = false, dead = false): void {
  for (const level of b.shadows?.values() ?? []) for (const s of level) discardBeam(env, counters, s, true);
  b.shadows = undefined;
  counters.tokensSpeculativeWasted += b.speculativeTokens;
  b.speculativeTokens = 0;
  // A dropped shadow's private pages are freed outright; anything else stays cached, since a released
  // or later beam may still want a prefix it held. Shared pages stay either way (discard frees only
  // pages no other sequence or cached branch uses).
  if (speculative || dead) env.generatorPool.discard(b.kv);
  else env.generatorPool.release(b.kv);
  env.events?.released(b.kv);
  env.verifierPool.release(b.vkv);
}

/** What speculation reads of the generator phase (generation.ts's GenerationPhase has these fields). */
export interface SpeculationPhase {
  env: SearchEnv;
  opts: SearchOptions;
  /** Steps each beam must hold after this phase (Infinity: generate to the end). */
  required: number;
  /** Extra steps each beam may generate speculatively (0 or absent: none). */
  speculativeSteps?: Map<Beam, number>;
  /** Speculative beams in priority order (best score bin first). */
  speculationOrder?: Beam[];
  /** Copies each surviving beam will get: speculation also runs its future siblings 1 .. copies - 1. */
  copies?: number;
  /** Set when steps are scored early (verification.ts): then survivalOrder ranks by those scores. */
  verifyEarly?: unknown;
  /** Beams this selection keeps (beam search: n / beam width). */
  survivors?: number;
}

/**
 * Fills the decode batch's spare slots, up to `budget` sequences, with speculative work: beams done
 * with their step decode on, and their future children (shadows) start, shallowest first, then by
 * survivalOrder. Speculation only takes free pages, keeping a tenth of the pool for the standard beams.
 */
export function addSpeculation(p: SpeculationPhase, batch: Beam[], inBatch: Set<KvSeq>, budget: number): void {
  const { env } = p;
  const pool = env.generatorPool;
  const standardCount = batch.length;
  const canSpeculate = (b: Beam): boolean =>
    b.ended === null &&
    b.steps.length >= p.required &&
    b.steps.length < p.required + (p.speculativeSteps!.get(b) ?? 0) &&
    b.tokens.length < env.generator.config.maxPositions;
  // Keep room free for the standard beams' growth (a tenth of the pool, at least a page each):
  // speculation must not cause preemption or evict cached prefixes.
  const reserveForStandard = Math.max(standardCount + 1, Math.ceil(pool.capacity / 10));
  const tryAdd = (b: Beam): void => {
    if (batch.length >= budget || !canSpeculate(b) || inBatch.has(b.kv)) return;
    // Speculation only takes free pages: it never evicts cached prefixes or preempts anyone.
    if (pool.freePages < reserveForStandard) return;
    const attached = b.kv.pages.length === 0 && b.kv.computed === 0;
    if (attached) {
      pool.attach(b.kv, b.tokens, b.tokens.length);
      env.events?.resumed(b.kv);
    }
    if (!pool.reserveFree(b.kv, b.tokens.length)) {
      if (attached) {
        pool.release(b.kv); // do not pin cached pages for work that is not running
        env.events?.released(b.kv);
      }
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
    if (batch.length >= budget) break;
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
        env.events?.forked(sh, parent);
        p.speculativeSteps!.set(sh, p.speculativeSteps!.get(parent) ?? 0);
        sh.nestedShadow = c.level > p.required;
        siblings.push(sh);
      }
      beam = siblings[c.k - 1];
    }
    tryAdd(beam);
  }
}

/**
 * The beams whose speculation may run, most useful first: those done with this iteration's step, by
 * score bin (speculation.ts); with early scores, the beams this selection will surely prune (at least
 * `survivors` others already score higher) drop out and the rest go by their new score, unscored last.
 */
function survivalOrder(p: SpeculationPhase, byBin: readonly Beam[]): Beam[] {
  const done = byBin.filter((b) => b.steps.length >= p.required);
  if (!p.verifyEarly || p.survivors === undefined) return done;
  // Each beam's aggregated score through this step, once it is known.
  const scores = new Map<Beam, number>();
  for (const b of done) if (b.steps[p.required - 1]?.score != null) scores.set(b, aggregateScore(b.steps, p.opts.agg, p.required));
  // Competitors: beams that go on to the selection (not ended within this step) with a known score.
  const known = done
    .filter((b) => scores.has(b) && !(b.ended !== null && b.steps.length <= p.required))
    .map((b) => scores.get(b)!)
    .sort((a, b) => b - a);
  const higher = (s: number): number => {
    // known scores > s (known is descending)
    let lo = 0,
      hi = known.length;
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
  return [
    ...scored
      .filter((x) => x.better < p.survivors!)
      .sort((a, b) => a.better - b.better)
      .map((x) => x.b),
    ...unscored,
  ];
}
