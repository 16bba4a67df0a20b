// Whole-model outputs of both routes' runners (WebGPU, and the CPU route's WebAssembly kernels) against
// the CPU reference runner, on random tiny Qwen2 models (GQA, biases): ragged batches of 1, 3 and 8
// sequences, prefill (one sequence's prompt split over two chunks) plus 32 decode steps, f32/q8/q4
// weights; and the two PRM heads. For the CPU route the reference rounds activations entering q8/q4
// matrices as its kernels do (CpuReferenceOptions.activations = 'q8').
//
// Tolerance (MODEL_LOGITS_TOLERANCE = 1e-4 of the largest logit): both runners use the very same
// (dequantized) weights, so they differ only in f32 rounding order (GPU) versus f64 sums rounded once
// (reference): about 1e-7 relative per operation, ~1e-6 after two layers and the LM head (measured
// 2e-7..5e-7 here). Any real fault (a wrong page, position, weight row or nibble) moves logits by
// more than 1e-2 of their range, 100x above the tolerance. PRM scores lie in (0, 1): 1e-5 absolute.
// With rounded activations a value within 1e-7 of a rounding boundary may round the other way in one
// runner (one step of 1/127 of its group's largest value), and through the K/V cache that moves the
// sequence's later logits by up to ~5e-3 (measured: 32 of 331 rows over 1e-4 at worst, the others
// within 5e-7). So the CPU route's quantized runs must keep 3/4 of the rows within 1e-4 and all within
// 2e-2; a fault (a wrong page, position, row or nibble) moves nearly every row, by far more. The
// kernels themselves are checked tightly on identical inputs in tests/wasm-kernels.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGpu, type GpuContext } from '../src/gpu/device.ts';
import { mulberry32, randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { isQuantized, WEIGHT_FORMATS, type WeightFormat } from '../src/gpu/quant.ts';
import { CpuReferenceRunner } from '../src/runtime/cpu-reference.ts';
import { GREEDY, sampleToken } from '../src/runtime/sampler.ts';
import type { ForwardResult, SequenceChunk } from '../src/runtime/types.ts';
import { createWebGpuRunner } from '../src/runtime/webgpu-runner.ts';
import { createWasmRunner } from '../src/runtime/wasm-runner.ts';
import type { ModelSource } from '../src/model/source.ts';
import { maxRelativeDiff, MODEL_LOGITS_TOLERANCE } from '../src/testing/model-checks.ts';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.destroy());

const ROUTES = ['webgpu', 'wasm'] as const;
type Route = (typeof ROUTES)[number];

function runnerOn(route: Route, source: ModelSource, o: Parameters<typeof createWebGpuRunner>[2]) {
  return route === 'webgpu' ? createWebGpuRunner(gpu, source, o) : createWasmRunner(source, o);
}

function referenceFor(route: Route, source: ModelSource, weightFormat: WeightFormat, numPages: number) {
  return CpuReferenceRunner.create(source, { weightFormat, numPages, pageSize: PAGE_SIZE, activations: route === 'wasm' ? 'q8' : 'f32' });
}

/** Whether activations are rounded to 8 bits on this route and format (see the header). */
function roundsActivations(route: Route, format: WeightFormat): boolean {
  return route === 'wasm' && isQuantized(format);
}

const PROMPT_LENGTHS = [13, 5, 20, 2, 7, 1, 16, 9];
const DECODE_STEPS = 32;
const PAGE_SIZE = 16;

/** Pages handed out in a scrambled order so block tables are not contiguous. */
function blockTables(sequences: number, pagesEach: number): number[][] {
  const rand = mulberry32(99);
  const pages = Array.from({ length: sequences * pagesEach + 3 }, (_, i) => i);
  for (let i = pages.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pages[i], pages[j]] = [pages[j], pages[i]];
  }
  return Array.from({ length: sequences }, (_, s) => pages.slice(s * pagesEach, (s + 1) * pagesEach));
}

function prompt(length: number, seed: number, vocab: number): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length }, () => Math.floor(rand() * vocab));
}

describe.each(ROUTES)('%s runner vs CPU reference (causal LM)', (route) => {
  for (const format of WEIGHT_FORMATS) {
    for (const sequences of [1, 3, 8]) {
      test(`${format}, ${sequences} sequence(s): prefill + ${DECODE_STEPS} decode steps`, async () => {
        const source = randomModelSource(tinyConfigJson(), 11);
        const vocab = source.config.vocabSize;
        const pagesEach = Math.ceil((20 + DECODE_STEPS + 1) / PAGE_SIZE);
        const numPages = sequences * pagesEach + 3;
        // Small weight parts in the q4 runs: split matrices (and embedding gathers) end to end.
        const maxWeightPartBytes = format === 'q4' ? 1024 : undefined;
        const gpuRunner = await runnerOn(route, source, {
          weightFormat: format,
          numPages,
          pageSize: PAGE_SIZE,
          maxBatchTokens: 128,
          maxWeightPartBytes,
        });
        const ref = await referenceFor(route, source, format, numPages);
        const tables = blockTables(sequences, pagesEach);
        const prompts = Array.from({ length: sequences }, (_, s) => prompt(PROMPT_LENGTHS[s], 100 + s, vocab));
        const lengths = prompts.map(() => 0);
        // Step 0: every prompt, sequence 0's only up to half; all rows of every chunk are output rows
        // (so the LM head runs in more than one slice with 8 sequences).
        const split = Math.ceil(prompts[0].length / 2);
        let chunks: SequenceChunk[] = prompts.map((p, s) => {
          const tokens = s === 0 ? p.slice(0, split) : p;
          return { blockTable: tables[s], start: 0, tokens, outputRows: tokens.map((_, i) => i) };
        });
        let worst = 0;
        const rowDiffs: number[] = [];
        for (let step = 0; step <= DECODE_STEPS + 1; step++) {
          const [a, b]: ForwardResult[] = [await gpuRunner.forward({ chunks }), await ref.forward({ chunks })];
          expect(a.rows).toBe(b.rows);
          worst = Math.max(worst, maxRelativeDiff(a.logits!, b.logits!));
          for (let r = 0; r < a.rows; r++)
            rowDiffs.push(maxRelativeDiff(a.logits!.subarray(r * vocab, (r + 1) * vocab), b.logits!.subarray(r * vocab, (r + 1) * vocab)));
          // Next: greedy tokens from the reference's logits at each chunk's last output row.
          let row = 0;
          const next: SequenceChunk[] = [];
          chunks.forEach((c) => {
            const s = tables.indexOf(c.blockTable as number[]);
            lengths[s] = c.start + c.tokens.length;
            row += c.outputRows.length;
            const token = sampleToken(b.logits!, (row - 1) * vocab, vocab, GREEDY, 0, lengths[s]);
            const tokens = step === 0 && s === 0 ? prompts[0].slice(split) : [token];
            next.push({ blockTable: tables[s], start: lengths[s], tokens, outputRows: [tokens.length - 1] });
          });
          chunks = next;
        }
        gpuRunner.dispose();
        const off = rowDiffs.filter((d) => d > MODEL_LOGITS_TOLERANCE).length;
        console.log(
          `${route} ${format} x${sequences}: worst relative logits difference ${worst.toExponential(2)}; rows over 1e-4: ${off} of ${rowDiffs.length}`,
        );
        if (roundsActivations(route, format)) {
          expect(worst).toBeLessThanOrEqual(2e-2);
          expect(off).toBeLessThanOrEqual(rowDiffs.length / 4);
        } else expect(worst).toBeLessThanOrEqual(MODEL_LOGITS_TOLERANCE);
      });
    }
  }
});

describe.each(ROUTES)('%s runner vs CPU reference (PRM heads)', (route) => {
  for (const [architecture, format] of [
    ['Qwen2ForPrmModel', 'q4'],
    ['Qwen2ForPrmModel', 'f32'],
    ['Qwen2ForProcessRewardModel', 'q8'],
  ] as const) {
    test(`${architecture} ${format}: step scores at chosen rows`, async () => {
      const source = randomModelSource(tinyConfigJson({ architectures: [architecture] }), 12);
      const gpuRunner = await runnerOn(route, source, { weightFormat: format, numPages: 8, maxBatchTokens: 64 });
      const ref = await CpuReferenceRunner.create(source, { weightFormat: format, numPages: 8, activations: route === 'wasm' ? 'q8' : 'f32' });
      const chunks: SequenceChunk[] = [
        { blockTable: [3, 0], start: 0, tokens: prompt(19, 7, 96), outputRows: [4, 11, 18] },
        { blockTable: [5], start: 0, tokens: prompt(6, 8, 96), outputRows: [5] },
      ];
      const [a, b] = [await gpuRunner.forward({ chunks }), await ref.forward({ chunks })];
      expect(a.rows).toBe(4);
      expect(a.logits).toBeUndefined();
      let worst = 0;
      for (let i = 0; i < 4; i++) worst = Math.max(worst, Math.abs(a.scores![i] - b.scores![i]));
      expect(worst).toBeLessThanOrEqual(1e-5);
      // Scores are probabilities, and they differ between positions (the head reads each row).
      expect(Math.min(...a.scores!)).toBeGreaterThan(0);
      expect(Math.max(...a.scores!)).toBeLessThan(1);
      expect(new Set(a.scores!).size).toBe(4);
      // A later step continues from the cached K/V.
      const more: SequenceChunk[] = [{ blockTable: [5], start: 6, tokens: [9, 10], outputRows: [1] }];
      const [c, d] = [await gpuRunner.forward({ chunks: more }), await ref.forward({ chunks: more })];
      expect(Math.abs(c.scores![0] - d.scores![0])).toBeLessThanOrEqual(1e-5);
      gpuRunner.dispose();
    });
  }
});
