// Bitwise determinism of the runners: the search's exact-equivalence guarantee needs a token's logits
// to be identical whether it was computed in a prefill chunk or by decode, and whatever else shares its
// batch. Checked for the WebGPU runner's CPU-device kernels and, forced on this device, its GPU-class
// (cooperative reduction) kernels, and for the CPU route's WebAssembly kernels, with the K/V cache in
// f16 (the default) and in f32.
import { describe, expect, test } from 'vitest';
import { gpuPerDeviceClass } from './gpu-classes.ts';
import { WEIGHT_FORMATS } from '../src/gpu/quant.ts';
import type { SequenceChunk } from '../src/runtime/types.ts';
import type { ModelRunner } from '../src/runtime/types.ts';
import { createRunnerOn, greedyTokensOfTestModel, prefillDecodeBitwise, TEST_PROMPT, testModelSource, type RunnerHost } from '../src/testing/model-checks.ts';

const gpus = gpuPerDeviceClass();
const hosts = { cpu: () => gpus.cpu!, gpu: () => gpus.gpu!, wasm: (): RunnerHost => 'wasm' };

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Other sequences to share a batch with: different prompts, lengths and pages. */
const OTHERS = [
  [5, 6, 7],
  [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58],
  [9],
  [60, 61, 62, 63, 64, 65, 66],
  [70, 71],
  [80, 81, 82, 83, 84, 85, 86, 87, 88, 89],
  [90, 91, 92, 93, 94],
];

/** Prefill TEST_PROMPT then decode `token`, with `others` sharing both forwards (at batch slot `slot`);
 *  returns the decode step's logits for the test sequence. Each call uses fresh pages. */
async function decodeLogits(runner: ModelRunner, firstPage: number, others: number[][], slot: number, token: number): Promise<Float32Array> {
  const table = (i: number) => [firstPage + 2 * i, firstPage + 2 * i + 1];
  const mine = (chunk: Omit<SequenceChunk, 'blockTable'>, i: number): SequenceChunk => ({ ...chunk, blockTable: table(i) });
  const prefill = others.map((p, i) => mine({ start: 0, tokens: p, outputRows: [p.length - 1] }, i + 1));
  prefill.splice(slot, 0, mine({ start: 0, tokens: TEST_PROMPT, outputRows: [TEST_PROMPT.length - 1] }, 0));
  await runner.forward({ chunks: prefill });
  const decode = others.map((p, i) => mine({ start: p.length, tokens: [(token * 7 + i) % 96], outputRows: [0] }, i + 1));
  decode.splice(slot, 0, mine({ start: TEST_PROMPT.length, tokens: [token], outputRows: [0] }, 0));
  const r = await runner.forward({ chunks: decode });
  const vocab = runner.config.vocabSize;
  return r.logits!.slice(slot * vocab, (slot + 1) * vocab);
}

for (const [deviceClass, kvDtype] of [
  ['cpu', 'f16'],
  ['gpu', 'f16'],
  ['wasm', 'f16'],
  ['cpu', 'f32'],
  ['gpu', 'f32'],
  ['wasm', 'f32'],
] as const) {
  const kernels = deviceClass === 'wasm' ? 'WebAssembly (CPU route)' : `${deviceClass}-class WebGPU`;
  describe(`bitwise determinism, ${kernels} kernels, ${kvDtype} K/V`, () => {
    for (const format of WEIGHT_FORMATS) {
      test(`${format}: a token's logits from a prefill chunk equal its logits from decode`, async () => {
        const r = await prefillDecodeBitwise(hosts[deviceClass](), format, kvDtype);
        expect(r.equal, r.detail).toBe(true);
      });
    }

    test('q4: prefill in chunks of 1, 3 and 11 tokens gives bitwise equal logits for every row', async () => {
      const runner = await createRunnerOn(hosts[deviceClass](), testModelSource(), { weightFormat: 'q4', numPages: 3, maxBatchTokens: 16, kvDtype });
      const results: Uint32Array[] = [];
      for (const [page, chunk] of [
        [0, 1],
        [1, 3],
        [2, 11],
      ]) {
        const rows: number[] = [];
        for (let start = 0; start < TEST_PROMPT.length; start += chunk) {
          const tokens = TEST_PROMPT.slice(start, start + chunk);
          const r = await runner.forward({ chunks: [{ blockTable: [page], start, tokens, outputRows: tokens.map((_, i) => i) }] });
          rows.push(...bits(r.logits!));
        }
        results.push(Uint32Array.from(rows));
      }
      runner.dispose();
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
    });

    test('q4: a sequence decoded alone or in batches of 2, 4 and 8 (any slot) gives bitwise equal logits', async () => {
      const runner = await createRunnerOn(hosts[deviceClass](), testModelSource(), { weightFormat: 'q4', numPages: 16 * 4, maxBatchTokens: 96, kvDtype });
      const alone = bits(await decodeLogits(runner, 0, [], 0, 33));
      const cases: Array<[number, number]> = [
        [1, 1],
        [3, 0],
        [3, 3],
        [7, 4],
        [7, 7],
      ];
      for (const [count, slot] of cases) {
        const batched = bits(await decodeLogits(runner, 16, OTHERS.slice(0, count), slot, 33));
        expect(batched, `${count + 1} sequences, slot ${slot}`).toEqual(alone);
      }
      // The check can fail: a different token gives different logits.
      expect(bits(await decodeLogits(runner, 0, [], 0, 34))).not.toEqual(alone);
      runner.dispose();
    });
  });
}

test.each([
  ['cpu', 'f16'],
  ['cpu', 'f32'],
  ['wasm', 'f16'],
  ['wasm', 'f32'],
] as const)('greedy 64 tokens on %s kernels, %s K/V: alone and as one of 8 identical sequences in a batch are the same', async (host, kvDtype) => {
  const alone = await greedyTokensOfTestModel(hosts[host](), { batch: 1, kvDtype });
  const batched = await greedyTokensOfTestModel(hosts[host](), { batch: 8, kvDtype });
  expect(alone).toHaveLength(64);
  expect(batched).toEqual(alone);
  // Not a degenerate model: greedy decoding visits several distinct tokens.
  expect(new Set(alone).size).toBeGreaterThan(4);
});
