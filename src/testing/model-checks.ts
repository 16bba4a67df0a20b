// Whole-model checks of the WebGPU runner, runnable anywhere WebGPU is (Node/Dawn, headless Chromium):
// logits against the CPU reference, prefill against decode bitwise, and the greedy tokens of a fixed
// random model that the browser suite compares with Node's.
import type { GpuContext } from '../gpu/device.ts';
import type { WeightFormat } from '../gpu/quant.ts';
import type { KvDtype } from '../gpu/kv-dtype.ts';
import { randomModelSource, tinyConfigJson } from '../model/random-model.ts';
import type { ModelSource } from '../model/source.ts';
import { GREEDY, sampleToken } from '../runtime/sampler.ts';
import type { ForwardBatch, ModelRunner } from '../runtime/types.ts';
import { createWebGpuRunner } from '../runtime/webgpu-runner.ts';
import { createWasmRunner } from '../runtime/wasm-runner.ts';

/** Whole-model tolerance, relative to the largest logit: f32 rounding differs from the f64 reference
 *  by ~1e-7 per operation; through 2 layers of O(100)-term sums and the LM head it stays near 1e-6.
 *  1e-4 leaves a 100x margin while a wrong weight, position or page would move logits by > 1e-2. */
export const MODEL_LOGITS_TOLERANCE = 1e-4;

/** Largest |a - b| relative to the largest |b|. */
export function maxRelativeDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 1e-30;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return a.length === b.length ? diff / scale : Infinity;
}

/** Prefill of a prompt, then `steps` greedy decode steps, on two runners in lockstep (tokens from `b`);
 *  returns the worst relative logits difference. */
export async function compareRunners(a: ModelRunner, b: ModelRunner, prompt: number[], steps: number): Promise<number> {
  const table = Array.from({ length: Math.ceil((prompt.length + steps) / a.pageSize) }, (_, i) => i);
  let worst = 0;
  let tokens = prompt;
  let start = 0;
  for (let s = 0; s <= steps; s++) {
    const batch: ForwardBatch = { chunks: [{ blockTable: table, start, tokens, outputRows: [tokens.length - 1] }] };
    const [ra, rb] = [await a.forward(batch), await b.forward(batch)];
    worst = Math.max(worst, maxRelativeDiff(ra.logits ?? ra.scores!, rb.logits ?? rb.scores!));
    start += tokens.length;
    tokens = [sampleToken(rb.logits!, 0, b.config.vocabSize, GREEDY, 0, start)];
  }
  return worst;
}

/** Where a check runs its runner: a WebGPU device, or 'wasm' (the CPU route's WebAssembly kernels). */
export type RunnerHost = GpuContext | 'wasm';

/** A runner of `source` on `on`. */
export function createRunnerOn(
  on: RunnerHost,
  source: ModelSource,
  o: { weightFormat: WeightFormat; numPages: number; pageSize?: number; maxBatchTokens?: number; kvDtype?: KvDtype },
): Promise<ModelRunner> {
  return on === 'wasm' ? createWasmRunner(source, o) : createWebGpuRunner(on, source, o);
}

/** The fixed random tiny model of the cross-environment checks. Its LM head is untied: with a random
 *  tied head the residual stream makes greedy decoding repeat the last token forever, which would make
 *  a weak comparison. */
export function testModelSource(): ModelSource {
  return randomModelSource(tinyConfigJson({ tie_word_embeddings: false }), 20261128, 'gpu-checks-model');
}

export const TEST_PROMPT = [1, 17, 42, 5, 88, 23, 61, 9, 30, 77, 3];

/** 64 greedy tokens of testModelSource() from TEST_PROMPT, computed alone (batch 1) or as one of
 *  `batch` identical sequences sharing every forward (returns the first sequence's tokens). */
export async function greedyTokensOfTestModel(
  on: RunnerHost,
  options: { weightFormat?: WeightFormat; batch?: number; tokens?: number; kvDtype?: KvDtype } = {},
): Promise<number[]> {
  const batch = options.batch ?? 1;
  const count = options.tokens ?? 64;
  const pageSize = 16;
  const pagesPerSeq = Math.ceil((TEST_PROMPT.length + count) / pageSize);
  const runner = await createRunnerOn(on, testModelSource(), {
    weightFormat: options.weightFormat ?? 'q4',
    numPages: batch * pagesPerSeq,
    pageSize,
    maxBatchTokens: Math.max(batch * TEST_PROMPT.length, 16),
    kvDtype: options.kvDtype,
  });
  try {
    const tables = Array.from({ length: batch }, (_, s) => Array.from({ length: pagesPerSeq }, (_, i) => s * pagesPerSeq + i));
    const out: number[][] = Array.from({ length: batch }, () => []);
    let next: number[][] = Array.from({ length: batch }, () => TEST_PROMPT);
    let start = 0;
    for (let step = 0; step < count; step++) {
      const r = await runner.forward({ chunks: next.map((tokens, s) => ({ blockTable: tables[s], start, tokens, outputRows: [tokens.length - 1] })) });
      start += next[0].length;
      next = out.map((seq, s) => {
        const t = sampleToken(r.logits!, s * runner.config.vocabSize, runner.config.vocabSize, GREEDY, 0, start);
        seq.push(t);
        return [t];
      });
    }
    return out[0];
  } finally {
    runner.dispose();
  }
}

/** Logits of the last prompt token, computed (a) in a prefill chunk of the whole prompt and (b) by
 *  decoding that token after prefilling the rest: must be bitwise equal. */
export async function prefillDecodeBitwise(on: RunnerHost, format: WeightFormat, kvDtype?: KvDtype): Promise<{ equal: boolean; detail: string }> {
  const runner = await createRunnerOn(on, testModelSource(), { weightFormat: format, numPages: 4, maxBatchTokens: 16, kvDtype });
  try {
    const p = TEST_PROMPT;
    const whole = await runner.forward({ chunks: [{ blockTable: [0], start: 0, tokens: p, outputRows: [p.length - 1] }] });
    await runner.forward({ chunks: [{ blockTable: [1], start: 0, tokens: p.slice(0, -1), outputRows: [] }] });
    const last = await runner.forward({ chunks: [{ blockTable: [1], start: p.length - 1, tokens: p.slice(-1), outputRows: [0] }] });
    const a = new Uint32Array(whole.logits!.buffer, whole.logits!.byteOffset, whole.logits!.length);
    const b = new Uint32Array(last.logits!.buffer, last.logits!.byteOffset, last.logits!.length);
    const diff = a.findIndex((v, i) => v !== b[i]);
    return {
      equal: diff < 0 && a.length === b.length,
      detail: diff < 0 ? `${a.length} logits bitwise equal` : `logit ${diff} differs: ${whole.logits![diff]} vs ${last.logits![diff]}`,
    };
  } finally {
    runner.dispose();
  }
}
