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
// finishes its step; so speculation also runs these future siblings ("shadows", generation.ts) in free
// slots, and a surviving parent's copies 1.. take over their shadows' tokens. The same holds one level
// down: once a beam (or a shadow) holds a speculative step, the children a later selection would make
// from it are known too, so shadows have shadows, up to the beam's M steps ahead. Without them the search
// could only get one step ahead of a straggler; with them a beam that keeps surviving keeps its head start.
// Early verification (technique earlyVerification) steers the slots: each standard step is scored as soon
// as it is done, and the beams this selection will surely prune (at least n / beam_width others already
// score higher) stop speculating; the rest go by their new score (survivalOrder, generation.ts).
// The paper instead lets every copy keep a fraction R (about 0.85) of the parent's speculative tokens;
// `siblingKeepFraction` offers that, at the price of exactness: the siblings' kept tokens come from the
// parent's random stream, so their texts (and possibly the answer) differ from the baseline's.
import { aggregateScore, forkBeam, type Aggregation, type Beam } from './beam.ts';
import { childLineage } from '../runtime/sampler.ts';
import { acceptToken } from './generation.ts';
import type { SearchCounters, SearchEnv, SearchOptions } from './context.ts';

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
export function duplicateBeam(env: SearchEnv, opts: SearchOptions, counters: SearchCounters, iterations: number, parent: Beam, stepCount: number, count: number, now: number): Beam[] {
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
  env.verifierPool.release(b.vkv);
}
