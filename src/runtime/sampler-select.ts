// Candidate selection for the sampler over typed arrays, without sorting the vocabulary: the top-k by a
// bounded heap, and the top-p nucleus by weight histograms that leave only a handful of values to sort.
//
// The sampler's tokens must equal those of the plain definition (sort every candidate, accumulate in that
// order) bit for bit, since the search's equivalence tests compare tokens computed on different paths.
// So the nucleus boundary is decided from sums taken in another order only when it is clear by more than
// their rounding error bound; a boundary closer than that (exact ties with top_p * total, for instance)
// is found by the plain accumulation in sorted order.

/**
 * Writes the ids of the k largest logits into out[0..k), ascending by id; ties go to the lower id
 * (the order "logit descending, then id ascending"). 0 < k < vocab.
 */
export function topKIds(logits: Float32Array, offset: number, vocab: number, k: number, out: Int32Array): void {
  // A min-heap of the k kept ids whose root is the weakest (lowest logit, highest id among equals). Ids
  // arrive in increasing order, so a newcomer loses every tie and displaces the root only when its logit
  // is strictly larger.
  for (let i = 0; i < k; i++) out[i] = i;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(logits, offset, out, k, i);
  let rootLogit = logits[offset + out[0]];
  for (let i = k; i < vocab; i++) {
    if (logits[offset + i] > rootLogit) {
      out[0] = i;
      siftDown(logits, offset, out, k, 0);
      rootLogit = logits[offset + out[0]];
    }
  }
  out.subarray(0, k).sort();
}

function weaker(logits: Float32Array, offset: number, a: number, b: number): boolean {
  const la = logits[offset + a];
  const lb = logits[offset + b];
  return la < lb || (la === lb && a > b);
}

function siftDown(logits: Float32Array, offset: number, heap: Int32Array, n: number, i: number): void {
  for (;;) {
    const left = 2 * i + 1;
    if (left >= n) return;
    const right = left + 1;
    const child = right < n && weaker(logits, offset, heap[right], heap[left]) ? right : left;
    if (!weaker(logits, offset, heap[child], heap[i])) return;
    const t = heap[i];
    heap[i] = heap[child];
    heap[child] = t;
    i = child;
  }
}

/** Where the nucleus ends: every weight above `weight`, and the first `ties` (by id) of those equal to it. */
interface Boundary {
  weight: number;
  ties: number;
  /** The accumulated mass just before and just after the boundary candidate. */
  before: number;
  after: number;
}

// Weights lie in [0, 1] (the largest is exp(0)). Octave b >= 1 holds [2^-b, 2^(1-b)), octave 0 holds 1,
// the last one everything below 2^-62 (zeros included); an octave's 1024 slices split it by the top ten
// mantissa bits. Both are read from the float's bits.
const OCTAVES = 64;
const SLICES = 1024;
const octaveMass = new Float64Array(OCTAVES);
const sliceMass = new Float64Array(SLICES);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // index of a float64's high word
/** Below this many candidates the plain sorted accumulation is as fast as the histograms. */
const SMALL = 512;

let sortedValues = new Float64Array(0);
let octaveMembers = new Int32Array(0);

/**
 * Keeps the nucleus of candidates (ids[j], weights[j]), j < n, ascending by id: the smallest set of the
 * most likely (weight descending, then id ascending) whose mass, accumulated in that order, reaches
 * topP * total (total: the weights summed in id order). Compacts both arrays in place, keeping id order,
 * and returns how many remain. When the accumulated mass never reaches it (NaN weights, rounding with
 * top_p next to 1) every candidate stays, as in the plain definition.
 */
export function keepNucleus(ids: Int32Array, weights: Float64Array, n: number, total: number, topP: number): number {
  const threshold = topP * total;
  if (Number.isNaN(threshold)) return n;
  if (sortedValues.length < n) {
    sortedValues = new Float64Array(n);
    octaveMembers = new Int32Array(n);
  }
  const b = (n > SMALL ? histogramBoundary(weights, n, total, threshold) : null) ?? sortedBoundary(weights, n, threshold);
  if (b === null) return n;
  // Written unconditionally, advanced only for a kept candidate: no unpredictable branch per candidate.
  let kept = 0;
  let ties = b.ties;
  const cut = b.weight;
  for (let j = 0; j < n; j++) {
    const w = weights[j];
    ids[kept] = ids[j];
    weights[kept] = w;
    if (w === cut) {
      if (ties > 0) {
        ties--;
        kept++;
      }
    } else {
      kept += +(w > cut);
    }
  }
  return kept;
}

/** The plain definition: accumulate every weight in descending order until the mass reaches the threshold. */
function sortedBoundary(weights: Float64Array, n: number, threshold: number): Boundary | null {
  sortedValues.set(weights.subarray(0, n));
  return accumulateSorted(n, 0, threshold);
}

/** Sorts sortedValues[0..m) and adds them, largest first, to `mass` until it reaches the threshold. */
function accumulateSorted(m: number, mass: number, threshold: number): Boundary | null {
  sortedValues.subarray(0, m).sort();
  let ties = 0;
  let prev = NaN;
  for (let k = m - 1; k >= 0; k--) {
    const v = sortedValues[k];
    ties = v === prev ? ties + 1 : 1;
    prev = v;
    const before = mass;
    mass += v;
    if (mass >= threshold) return { weight: v, ties, before, after: mass };
  }
  return null;
}

/**
 * The boundary from octave and slice masses, sorting only the slice that holds it. Null when the mass just
 * before or just after the boundary is within the rounding bound of the threshold, or the boundary lies
 * among the tiniest weights: the caller then takes the plain path.
 */
function histogramBoundary(weights: Float64Array, n: number, total: number, threshold: number): Boundary | null {
  const bits = new Uint32Array(weights.buffer, weights.byteOffset, 2 * n);
  // Two summation orders of the same non-negative terms, each at most n + OCTAVES + SLICES additions
  // deep, differ by at most twice that many units of 2^-53 of the total; the margin doubles it.
  const margin = 4 * (n + OCTAVES + SLICES) * 2 ** -53 * total;
  octaveMass.fill(0);
  for (let j = 0; j < n; j++) octaveMass[octaveOf(bits[2 * j + HI])] += weights[j];
  let mass = 0;
  let octave = 0;
  while (octave < OCTAVES && mass + octaveMass[octave] < threshold) mass += octaveMass[octave++];
  if (octave >= OCTAVES - 1) return null;
  let members = 0;
  for (let j = 0; j < n; j++) {
    octaveMembers[members] = j;
    members += +(octaveOf(bits[2 * j + HI]) === octave);
  }
  sliceMass.fill(0);
  for (let k = 0; k < members; k++) {
    const j = octaveMembers[k];
    sliceMass[sliceOf(bits[2 * j + HI])] += weights[j];
  }
  let slice = SLICES - 1;
  while (slice > 0 && mass + sliceMass[slice] < threshold) mass += sliceMass[slice--];
  let m = 0;
  for (let k = 0; k < members; k++) {
    const j = octaveMembers[k];
    if (sliceOf(bits[2 * j + HI]) === slice) sortedValues[m++] = weights[j];
  }
  const b = accumulateSorted(m, mass, threshold);
  return b !== null && b.before < threshold - margin && b.after >= threshold + margin ? b : null;
}

function octaveOf(hi: number): number {
  const octave = 1023 - ((hi >>> 20) & 0x7ff);
  return Math.min(octave, OCTAVES - 1);
}

function sliceOf(hi: number): number {
  return (hi >>> 10) & (SLICES - 1);
}
