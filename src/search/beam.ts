// A beam: one partial solution, its generator tokens and KV, its steps with their PRM scores, and its
// verifier tokens and KV. Forking a beam (duplication in beam search, candidates in DVTS) is where
// speculation is kept or thrown away, see speculative.ts.
import { StepTextDecoder, STEP_DELIMITER, type TextCodec } from './step-text.ts';
import type { KvSeq, SearchKvPool } from './search-kv.ts';

export interface Step {
  text: string;
  /** Token range in Beam.tokens. */
  start: number;
  end: number;
  /** PRM score, null until verified (and for an empty final step, which is never scored). */
  score: number | null;
  /** Verifier token count after this step (its separator included), once appended. */
  verifierEnd: number;
  /** Clock (ms) when the score became known. */
  scoredAt: number;
}

export type EndReason = 'eos' | 'length';

export interface Beam {
  id: number;
  lineage: number;
  /** Prompt + generated tokens; tokens at index >= kv.computed are still to be fed to the generator. */
  tokens: number[];
  promptLength: number;
  /** Finished steps, standard and speculative. */
  steps: Step[];
  /** The step being generated starts at this token index. */
  currentStart: number;
  decoder: StepTextDecoder;
  /** Set when the beam's last step is in `steps` (EOS or a length limit). */
  ended: EndReason | null;
  kv: KvSeq;
  verifierTokens: number[];
  /** Verifier tokens before the first step (bos + problem + separator). */
  verifierPrefixLength: number;
  vkv: KvSeq;
  /** Clock (ms) when this beam came to be (a root, or a child made at a selection). */
  bornAt: number;
  /** Clock (ms) when its last token was generated (ended beams). */
  endedAt: number;
  /** Tokens this beam generated speculatively that are still in it, for the metrics. */
  speculativeTokens: number;
  /**
   * Speculative future children, by step boundary: shadows.get(c)[k - 1] is the would-be child k (its own
   * lineage) that a selection after this beam's first c steps would make, started at that boundary while
   * batch slots were free. Promoted if this beam survives that selection; a shadow has shadows of its own.
   */
  shadows?: Map<number, Beam[]>;
  /** A shadow started after a speculative step: two or more selections ahead when it was made. */
  nestedShadow?: boolean;
}

/** Every shadow under a beam, nested ones included. */
export function allShadows(b: Beam, out: Beam[] = []): Beam[] {
  for (const level of b.shadows?.values() ?? []) {
    for (const s of level) {
      out.push(s);
      allShadows(s, out);
    }
  }
  return out;
}

export type Aggregation = 'last' | 'min' | 'prod' | 'mean';

/** Aggregates the scores of a beam's first `count` steps (unscored steps are skipped; none: 0). */
export function aggregateScore(steps: readonly Step[], agg: Aggregation, count = steps.length): number {
  const xs: number[] = [];
  for (let i = 0; i < Math.min(count, steps.length); i++) if (steps[i].score !== null) xs.push(steps[i].score!);
  if (xs.length === 0) return 0;
  switch (agg) {
    case 'last':
      return xs[xs.length - 1];
    case 'min':
      return Math.min(...xs);
    case 'prod':
      return xs.reduce((a, b) => a * b, 1);
    case 'mean':
      return xs.reduce((a, b) => a + b, 0) / xs.length;
  }
}

/** The solution text of the first `count` steps. */
export function beamText(beam: Beam, count = beam.steps.length): string {
  let s = '';
  for (let i = 0; i < Math.min(count, beam.steps.length); i++) s += beam.steps[i].text;
  return s;
}

/** Generated tokens in the first `count` steps (goodput counts them). */
export function beamTokens(beam: Beam, count = beam.steps.length): number {
  const n = Math.min(count, beam.steps.length);
  return n === 0 ? 0 : beam.steps[n - 1].end - beam.promptLength;
}

/** The step text the verifier reads: without the trailing delimiter (the separator replaces it). */
export function verifierStepText(text: string): string {
  return text.endsWith(STEP_DELIMITER) ? text.slice(0, -STEP_DELIMITER.length) : text;
}

let nextBeamId = 1;

export function rootBeam(prompt: number[], verifierPrefix: number[], lineage: number, codec: TextCodec, kv: KvSeq, vkv: KvSeq): Beam {
  return {
    id: nextBeamId++,
    lineage,
    tokens: prompt.slice(),
    promptLength: prompt.length,
    steps: [],
    currentStart: prompt.length,
    decoder: new StepTextDecoder(codec),
    ended: null,
    kv,
    verifierTokens: verifierPrefix.slice(),
    verifierPrefixLength: verifierPrefix.length,
    vkv,
    bornAt: 0,
    endedAt: -1,
    speculativeTokens: 0,
  };
}

/**
 * A new beam holding `parent`'s first `stepCount` steps (its K/V shared through the pools), sampling
 * with `lineage` from there on. The child that would inherit the parent's lineage is the parent itself
 * instead (keeping its speculation), see speculative.ts.
 */
export function forkBeam(parent: Beam, stepCount: number, lineage: number, codec: TextCodec, gen: SearchKvPool, ver: SearchKvPool, withVerifier = true): Beam {
  const steps = parent.steps.slice(0, stepCount).map((s) => ({ ...s }));
  // The generator K/V is shared up to the last token, which stays pending: its logits give the first new token.
  const end = stepCount === 0 ? parent.promptLength : steps[stepCount - 1].end;
  // Without the verifier's state (a speculative shadow: it takes the parent's when promoted), the fork pins
  // no verifier pages, which the verifier phase could then not preempt.
  const vend = !withVerifier ? 0 : stepCount === 0 ? parent.verifierPrefixLength : steps[stepCount - 1].verifierEnd;
  return {
    id: nextBeamId++,
    lineage,
    tokens: parent.tokens.slice(0, end),
    promptLength: parent.promptLength,
    steps,
    currentStart: end,
    decoder: new StepTextDecoder(codec),
    ended: null,
    kv: gen.fork(parent.kv, end - 1),
    verifierTokens: parent.verifierTokens.slice(0, vend),
    verifierPrefixLength: parent.verifierPrefixLength,
    vkv: withVerifier ? ver.fork(parent.vkv, vend) : ver.newSeq(),
    bornAt: 0,
    endedAt: -1,
    speculativeTokens: 0,
  };
}

/** When an ended beam's result was final: born, last token generated, and every step scored. */
export function completionTime(b: Beam): number {
  let t = Math.max(b.bornAt, b.endedAt);
  for (const s of b.steps) if (s.scoredAt > t) t = s.scoredAt;
  return t;
}
