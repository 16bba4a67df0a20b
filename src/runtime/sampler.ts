// Token sampling with counter-based randomness: the random number for a token is a pure function of
// (seed, sequence lineage, position), so a sequence's tokens never depend on what else shares its batch,
// on batch order, or on whether the token was produced speculatively. FastTTS's exact equivalence with
// the baseline rests on this.
import { OptionError } from '../errors.ts';

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

/**
 * Picks the next token from one row of logits. `position` is the position the sampled token will
 * occupy in the sequence.
 */
export function sampleToken(
  logits: Float32Array,
  offset: number,
  vocab: number,
  o: SamplingOptions,
  lineage: number,
  position: number,
): number {
  if (o.temperature === 0) return argmax(logits, offset, vocab);
  const maxLogit = logits[offset + argmax(logits, offset, vocab)];
  const invT = 1 / o.temperature;
  // Candidates: all tokens, or the top-k; probabilities are unnormalised exp((l - max) / T).
  let ids: number[];
  if (o.topK > 0 && o.topK < vocab) {
    ids = topKIndices(logits, offset, vocab, o.topK);
  } else {
    ids = Array.from({ length: vocab }, (_, i) => i);
  }
  const weights = ids.map((i) => Math.exp((logits[offset + i] - maxLogit) * invT));
  if (o.topP < 1) {
    // Nucleus: the smallest set of most likely tokens whose mass reaches top_p (ties broken by id).
    const order = ids.map((_, j) => j).sort((a, b) => weights[b] - weights[a] || ids[a] - ids[b]);
    let total = 0;
    for (const w of weights) total += w;
    let mass = 0;
    const keep: number[] = [];
    for (const j of order) {
      keep.push(j);
      mass += weights[j];
      if (mass >= o.topP * total) break;
    }
    keep.sort((a, b) => ids[a] - ids[b]);
    ids = keep.map((j) => ids[j]);
    const kept = keep.map((j) => weights[j]);
    weights.length = 0;
    weights.push(...kept);
  }
  let total = 0;
  for (const w of weights) total += w;
  const u = uniformAt(o.seed, lineage, position) * total;
  let acc = 0;
  for (let j = 0; j < ids.length; j++) {
    acc += weights[j];
    if (u < acc) return ids[j];
  }
  return ids[ids.length - 1];
}

/** Indices of the k largest logits, ascending by id (ties at the boundary go to the lower id). */
function topKIndices(logits: Float32Array, offset: number, vocab: number, k: number): number[] {
  const idx = Array.from({ length: vocab }, (_, i) => i);
  idx.sort((a, b) => logits[offset + b] - logits[offset + a] || a - b);
  return idx.slice(0, k).sort((a, b) => a - b);
}
