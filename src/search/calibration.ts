// The speculation budget, measured on the device: decode time against batch size, and the largest
// batch whose step costs at most (1 + slack) times a batch of one. Below it, extra sequences in a decode
// step are nearly free (a GPU's decode is bound by reading the weights); on a device whose cost grows
// linearly with the batch (a CPU route) the answer is 1, and speculation stays off. Cached per adapter.
import type { ModelRunner } from '../runtime/types.ts';
import type { Clock } from '../metrics/trace.ts';
import { forwardInParts } from './context.ts';

export interface DecodeCalibration {
  /** Batch sizes measured and their decode-step times, ms. */
  batches: number[];
  ms: number[];
  /** The largest nearly-free batch. */
  nearlyFreeBatch: number;
}

const cache = new Map<string, DecodeCalibration>();

/**
 * Times one decode step at each batch size (powers of two up to maxBatch) over sequences holding
 * `context` tokens (pages 0.. of the runner are used as scratch: call before the search allocates).
 */
export async function calibrateDecode(runner: ModelRunner, clock: Clock, opts: { key?: string; maxBatchTokens?: number; maxBatch?: number; context?: number; slack?: number; repeats?: number } = {}): Promise<DecodeCalibration> {
  if (opts.key && cache.has(opts.key)) return cache.get(opts.key)!;
  const maxBatch = opts.maxBatch ?? 64;
  const context = Math.max(1, opts.context ?? 16);
  const slack = opts.slack ?? 0.15;
  const repeats = opts.repeats ?? 2;
  const pagesPerSeq = Math.ceil((context + 1) / runner.pageSize);
  const token = runner.config.bosTokenId ?? 0;
  const batches: number[] = [];
  const ms: number[] = [];
  for (let b = 1; b <= maxBatch && b * pagesPerSeq <= runner.numPages && b <= (opts.maxBatchTokens ?? Infinity); b *= 2) {
    const tables = Array.from({ length: b }, (_, i) => Array.from({ length: pagesPerSeq }, (_, j) => i * pagesPerSeq + j));
    // Fill the context once (within the runner's batch limit), then time decode steps.
    await forwardInParts(runner, { chunks: tables.map((t) => ({ blockTable: t, start: 0, tokens: new Array(context).fill(token), outputRows: [context - 1] })) }, opts.maxBatchTokens ?? Infinity);
    let best = Infinity;
    for (let r = 0; r < repeats; r++) {
      const t0 = clock.now();
      await runner.forward({ chunks: tables.map((t) => ({ blockTable: t, start: context, tokens: [token], outputRows: [0] })) });
      best = Math.min(best, clock.now() - t0);
    }
    batches.push(b);
    ms.push(best);
  }
  let nearlyFreeBatch = 1;
  for (let i = 0; i < batches.length && ms[i] <= ms[0] * (1 + slack); i++) nearlyFreeBatch = batches[i];
  const result = { batches, ms, nearlyFreeBatch };
  if (opts.key) cache.set(opts.key, result);
  return result;
}
