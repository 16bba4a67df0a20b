// Random schedules: the same sequences fed through the WebGPU runner in random ragged batches (random
// chunk sizes, random subsets of sequences per call, random page placement) give, for every token
// position, logits bitwise equal to feeding each sequence alone one token at a time, and within the
// whole-model tolerance of the CPU reference.
import { expect, test } from 'vitest';
import { gpuPerDeviceClass } from './gpu-classes.ts';
import { mulberry32, randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { CpuReferenceRunner } from '../src/runtime/cpu-reference.ts';
import type { ModelRunner, SequenceChunk } from '../src/runtime/types.ts';
import { createWebGpuRunner } from '../src/runtime/webgpu-runner.ts';
import { maxRelativeDiff, MODEL_LOGITS_TOLERANCE } from '../src/testing/model-checks.ts';

const gpus = gpuPerDeviceClass();

const PAGE = 8;
const source = randomModelSource(tinyConfigJson(), 31);
const V = source.config.vocabSize;

/** Feeds `sequences` to `runner` on the schedule `plan` picks; returns each sequence's logits per position. */
async function feed(
  runner: ModelRunner,
  sequences: number[][],
  tables: number[][],
  plan: (remaining: number[]) => Array<{ seq: number; count: number }>,
): Promise<Float32Array[][]> {
  const done = sequences.map(() => 0);
  const logits: Float32Array[][] = sequences.map(() => []);
  while (done.some((d, s) => d < sequences[s].length)) {
    const picks = plan(sequences.map((t, s) => t.length - done[s]));
    const chunks: SequenceChunk[] = picks.map(({ seq, count }) => {
      const tokens = sequences[seq].slice(done[seq], done[seq] + count);
      return { blockTable: tables[seq], start: done[seq], tokens, outputRows: tokens.map((_, i) => i) };
    });
    const out = await runner.forward({ chunks });
    let row = 0;
    picks.forEach(({ seq, count }) => {
      for (let i = 0; i < count; i++, row++) logits[seq].push(out.logits!.slice(row * V, (row + 1) * V));
      done[seq] += count;
    });
  }
  return logits;
}

for (const deviceClass of ['cpu', 'gpu'] as const) {
  test(`${deviceClass}-class kernels: random ragged schedules are bitwise equal to one-token-at-a-time, and match the reference`, async () => {
    const rand = mulberry32(deviceClass === 'cpu' ? 7 : 8);
    const sequences = Array.from({ length: 4 }, () => Array.from({ length: 12 + Math.floor(rand() * 30) }, () => Math.floor(rand() * V)));
    const pagesEach = Math.ceil(45 / PAGE);
    // Schedule A's pages scrambled over the first half of the pool, schedule B's in the second half.
    const pool = Array.from({ length: 4 * pagesEach }, (_, i) => i).sort(() => rand() - 0.5);
    const tablesA = sequences.map((_, s) => pool.slice(s * pagesEach, (s + 1) * pagesEach));
    const tablesB = sequences.map((_, s) => tablesA[s].map((p) => p + 4 * pagesEach));
    const runner = await createWebGpuRunner(gpus[deviceClass]!, source, { weightFormat: 'q4', numPages: 8 * pagesEach, pageSize: PAGE, maxBatchTokens: 64 });
    const randomPlan = (remaining: number[]) => {
      const picks = remaining.flatMap((r, seq) => (r > 0 && rand() < 0.7 ? [{ seq, count: Math.min(r, 1 + Math.floor(rand() * 9)) }] : []));
      if (picks.length === 0) {
        const seq = remaining.findIndex((r) => r > 0);
        picks.push({ seq, count: 1 });
      }
      return picks.sort(() => rand() - 0.5);
    };
    const oneAtATime = (remaining: number[]) => [{ seq: remaining.findIndex((r) => r > 0), count: 1 }];
    const a = await feed(runner, sequences, tablesA, randomPlan);
    const b = await feed(runner, sequences, tablesB, oneAtATime);
    runner.dispose();
    const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
    sequences.forEach((seq, s) => {
      for (let p = 0; p < seq.length; p++) expect(bits(a[s][p]), `sequence ${s} position ${p}`).toEqual(bits(b[s][p]));
    });
    // And the values are right: the reference, one whole prompt per sequence.
    const ref = await CpuReferenceRunner.create(source, { weightFormat: 'q4', numPages: 4 * pagesEach, pageSize: PAGE });
    const r = await feed(ref, sequences, tablesA, (remaining) => remaining.flatMap((n, seq) => (n > 0 ? [{ seq, count: n }] : [])));
    let worst = 0;
    sequences.forEach((seq, s) => {
      for (let p = 0; p < seq.length; p++) worst = Math.max(worst, maxRelativeDiff(a[s][p], r[s][p]));
    });
    expect(worst).toBeLessThanOrEqual(MODEL_LOGITS_TOLERANCE);
  });
}
