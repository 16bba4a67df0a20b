// Token sampling with counter-based randomness: the random number for a token is a pure function of
// (seed, sequence lineage, position), so a sequence's tokens never depend on what else shares its batch,
// on batch order, or on whether the token was produced speculatively. FastTTS's exact equivalence with
// the baseline rests on this.
import { OptionError } from '../errors.ts';
import { keepNucleus, topKIds } from './sampler-select.ts';

export interface SamplingOptions {
  /** 0 means greedy (argmax, lowest index on ties). */
  temperature: number;
  /** 0 or >= vocab disables top-k. */
  topK: number;
  /** 1 disables top-p (nucleus) filtering. */
  topP: number;
  seed: number;
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, seed: 0 };

export function validateSampling(o: SamplingOptions): SamplingOptions {
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw new OptionError(`temperature must be >= 0, got ${o.temperature}`);
  if (!Number.isInteger(o.topK) || o.topK < 0) throw new OptionError(`top-k must be a non-negative integer, got ${o.topK}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new OptionError(`top-p must be in (0, 1], got ${o.topP}`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new OptionError(`seed must be an integer in [0, 2^32), got ${o.seed}`);
  return o;
}

/** murmur3's 32-bit finalizer: a cheap, well-mixed bijection on u32. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mix(a: number, b: number): number {
  return fmix32((Math.imul(a ^ 0x9e3779b9, 0x27d4eb2d) + fmix32(b)) >>> 0);
}

/** The lineage of the root sequences of a request. */
export const ROOT_LINEAGE = 0x5eed;

/**
 * Lineage of a child forked from `parent`. Child 0 keeps the parent's lineage, so it draws exactly the
 * random numbers the parent would have drawn (its speculative tokens stay valid); its siblings get
 * fresh lineages, so they diverge.
 */
export function childLineage(parent: number, childIndex: number): number {
  return childIndex === 0 ? parent : mix(mix(parent, 0x51b1), childIndex);
}

/** Uniform number in [0, 1) keyed by (seed, lineage, position); 53 bits of randomness. */
export function uniformAt(seed: number, lineage: number, position: number): number {
  const k = mix(mix(seed >>> 0, lineage >>> 0), position >>> 0);
  const hi = fmix32(k ^ 0x68e31da4) >>> 5; // 27 bits
  const lo = fmix32(k ^ 0xb5297a4d) >>> 6; // 26 bits
  return (hi * 67108864 + lo) / 9007199254740992;
}

function argmax(logits: Float32Array, offset: number, n: number): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[offset + i];
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}

// Candidate ids and weights, reused from call to call (sampling is synchronous): a token of a 151,936-entry
// vocabulary allocates nothing.
let candidateIds = new Int32Array(0);
let candidateWeights = new Float64Array(0);

/**
 * Picks the next token from one row of logits. `position` is the position the sampled token will
 * occupy in the sequence.
 *
 * The definition (tests keep it as a reference): the candidates are every token, or the top-k (logit
 * descending, ties to the lower id), ascending by id; their weights are exp((l - max) / T); top-p keeps
 * the fewest most likely (weight descending, ties to the lower id) whose mass, accumulated in that order,
 * reaches top_p times the total in id order; the token is the first, in id order, whose running weight
 * sum exceeds u * total for the counter-based u. Logits holding NaN give an unspecified token.
 */
export function sampleToken(logits: Float32Array, offset: number, vocab: number, o: SamplingOptions, lineage: number, position: number): number {
  if (o.temperature === 0) return argmax(logits, offset, vocab);
  if (candidateIds.length < vocab) {
    candidateIds = new Int32Array(vocab);
    candidateWeights = new Float64Array(vocab);
  }
  const ids = candidateIds;
  const weights = candidateWeights;
  const maxLogit = logits[offset + argmax(logits, offset, vocab)];
  const invT = 1 / o.temperature;
  let n = vocab;
  if (o.topK > 0 && o.topK < vocab) {
    n = o.topK;
    topKIds(logits, offset, vocab, n, ids);
  } else {
    for (let i = 0; i < vocab; i++) ids[i] = i;
  }
  let total = 0;
  for (let j = 0; j < n; j++) {
    const w = Math.exp((logits[offset + ids[j]] - maxLogit) * invT);
    weights[j] = w;
    total += w;
  }
  if (o.topP < 1) {
    n = keepNucleus(ids, weights, n, total, o.topP);
    total = 0;
    for (let j = 0; j < n; j++) total += weights[j];
  }
  const u = uniformAt(o.seed, lineage, position) * total;
  let acc = 0;
  for (let j = 0; j < n; j++) {
    acc += weights[j];
    if (u < acc) return ids[j];
  }
  return ids[n - 1];
}
