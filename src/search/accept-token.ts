// One sampled token applied to a beam: end of sequence, a step cut (the step delimiter), the step's and
// the model's length limits. The generator phase (generation.ts) and speculation's duplicates
// (speculative.ts) both advance beams through it.
import { StepTextDecoder } from './step-text.ts';
import type { Beam } from './beam.ts';
import type { SearchEnv, SearchOptions } from './context.ts';

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
