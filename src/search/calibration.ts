// The speculation budget, measured on the device: decode time against batch size, and the largest
// batch whose step costs at most (1 + slack) times a batch of one. Below it, extra sequences in a decode
// step are nearly free (a GPU's decode is bound by reading the weights); on a device whose cost grows
// linearly with the batch (a CPU route) the answer is 1, and speculation stays off. Cached per adapter.
import type { ModelRunner } from '../runtime/types.ts';
import type { Clock } from '../metrics/trace.ts';
import { forwardInParts } from '../runtime/forward-batch.ts';

export interface DecodeCalibration {
  /** Batch sizes measured (powers of two, then a bisection) and their decode-step times, ms. */
  batches: number[];
  ms: number[];
  /** The largest nearly-free batch. */
  nearlyFreeBatch: number;
}

/** Tokens of context in each sequence a decode calibration times, unless told otherwise (the engine's). */
export const DECODE_CALIBRATION_CONTEXT = 16;

const cache = new Map<string, DecodeCalibration>();

/**
 * Times one decode step at each batch size (powers of two up to maxBatch) over sequences holding
 * `context` tokens (pages 0.. of the runner are used as scratch: call before the search allocates).
 * With `sharedContext`, the sequences share their first sharedContext tokens (whole pages) as the beams
 * of a search do (the prompt and the steps before the latest), so a device that serves shared K/V from
 * its cache shows it; the rest of each context is its own.
 */
export async function calibrateDecode(
  runner: ModelRunner,
  clock: Clock,
  opts: { key?: string; maxBatchTokens?: number; maxBatch?: number; context?: number; sharedContext?: number; slack?: number; repeats?: number } = {},
): Promise<DecodeCalibration> {
  if (opts.key && cache.has(opts.key)) return cache.get(opts.key)!;
  const maxBatch = opts.maxBatch ?? 64;
  const context = Math.max(1, opts.context ?? DECODE_CALIBRATION_CONTEXT);
  const slack = opts.slack ?? 0.15;
  const repeats = opts.repeats ?? 2;
  const sharedPages = Math.floor(Math.min(opts.sharedContext ?? 0, context) / runner.pageSize);
  const shared = sharedPages * runner.pageSize;
  const ownPages = Math.ceil((context + 1) / runner.pageSize) - sharedPages;
  const token = runner.config.bosTokenId ?? 0;
  const batches: number[] = [];
  const ms: number[] = [];
  const fits = (b: number): boolean => b <= maxBatch && sharedPages + b * ownPages <= runner.numPages && b <= (opts.maxBatchTokens ?? Infinity);
  const measure = async (b: number): Promise<number> => {
    const common = Array.from({ length: sharedPages }, (_, j) => j);
    const tables = Array.from({ length: b }, (_, i) => [...common, ...Array.from({ length: ownPages }, (_, j) => sharedPages + i * ownPages + j)]);
    // Fill the context once (the shared part by the first sequence, within the runner's batch limit), then time decode steps.
    if (shared > 0)
      await forwardInParts(
        runner,
        { chunks: [{ blockTable: tables[0], start: 0, tokens: new Array(shared).fill(token), outputRows: [shared - 1] }] },
        opts.maxBatchTokens ?? Infinity,
      );
    if (context > shared)
      await forwardInParts(
        runner,
        { chunks: tables.map((t) => ({ blockTable: t, start: shared, tokens: new Array(context - shared).fill(token), outputRows: [context - shared - 1] })) },
        opts.maxBatchTokens ?? Infinity,
      );
    let best = Infinity;
    for (let r = 0; r < repeats; r++) {
      const t0 = clock.now();
      await runner.forward({ chunks: tables.map((t) => ({ blockTable: t, start: context, tokens: [token], outputRows: [0] })) });
      best = Math.min(best, clock.now() - t0);
    }
    batches.push(b);
    ms.push(best);
    return best;
  };
  const free = (t: number): boolean => t <= ms[0] * (1 + slack);
  // Every power of two (callers fit a profile to the whole curve), then a bisection between the last
  // nearly-free power and the next one.
  let lo = 1,
    hi = 0;
  await measure(1);
  for (let b = 2; fits(b); b *= 2) {
    const t = await measure(b);
    if (hi === 0 && free(t)) lo = b;
    else if (hi === 0) hi = b;
  }
  while (hi > 0 && hi - lo > Math.max(1, lo / 16)) {
    const mid = Math.floor((lo + hi) / 2);
    if (free(await measure(mid))) lo = mid;
    else hi = mid;
  }
  const nearlyFreeBatch = lo;
  const result = { batches, ms, nearlyFreeBatch };
  if (opts.key) cache.set(opts.key, result);
  return result;
}
