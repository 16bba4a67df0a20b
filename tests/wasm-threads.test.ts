// The CPU route with helper threads (shared memory): large products are split over the threads, and
// every logit is bitwise what one thread computes, in prefill and in decode, for each weight format.
import { expect, test } from 'vitest';
import { createWasmKernels } from '../src/cpu/wasm-module.ts';
import { smallBenchConfigJson } from '../src/commands/bench-decode.ts';
import { randomModelSource } from '../src/model/random-model.ts';
import { createWasmRunner } from '../src/runtime/wasm-runner.ts';
import type { ModelRunner } from '../src/runtime/types.ts';
import { OptionError } from '../src/errors.ts';
import { WEIGHT_FORMATS } from '../src/gpu/quant.ts';

async function logits(runner: ModelRunner): Promise<Uint32Array[]> {
  const prompt = Array.from({ length: 40 }, (_, i) => (i * 37) % 4096);
  const out: Uint32Array[] = [];
  const table = [0, 1, 2, 3];
  const first = await runner.forward({ chunks: [{ blockTable: table, start: 0, tokens: prompt, outputRows: [0, 39] }] });
  out.push(new Uint32Array(first.logits!.buffer));
  for (let step = 0; step < 3; step++) {
    const r = await runner.forward({ chunks: [{ blockTable: table, start: 40 + step, tokens: [step * 11 + 5], outputRows: [0] }] });
    out.push(new Uint32Array(r.logits!.buffer));
  }
  return out;
}

test.each(WEIGHT_FORMATS)('%s: two threads give bitwise the logits of one', async (weightFormat) => {
  const source = () => randomModelSource(smallBenchConfigJson(), 3, 'small');
  const two = await createWasmKernels({ threads: 2 });
  expect(two.pool.threads).toBe(2);
  const options = { weightFormat, numPages: 4, maxBatchTokens: 64 };
  const one = await createWasmRunner(source(), options);
  const parallel = await createWasmRunner(source(), options, two);
  const [a, b] = [await logits(one), await logits(parallel)];
  // The 40-token prefill's MLP products (768 x 256 x 40) were split; decode's stayed on one thread.
  expect(two.pool.parallelCalls).toBeGreaterThan(0);
  for (let i = 0; i < a.length; i++) expect(b[i], `forward ${i}`).toEqual(a[i]);
  one.dispose();
  parallel.dispose();
  two.dispose();
});

test('threads must be a positive integer', async () => {
  await expect(createWasmKernels({ threads: 0 })).rejects.toBeInstanceOf(OptionError);
  await expect(createWasmKernels({ threads: 1.5 })).rejects.toBeInstanceOf(OptionError);
});

// The relaxed-SIMD build (8-bit dots for q4) and the plain one compute the same exact integer group
// dots and then the same float sequence: bitwise the same logits, on one thread and on two.
test.each(['q4', 'q8'] as const)('%s: the relaxed-SIMD build gives bitwise the logits of the plain build', async (weightFormat) => {
  const source = () => randomModelSource(smallBenchConfigJson(), 5, 'small');
  const options = { weightFormat, numPages: 4, maxBatchTokens: 64 };
  const kernels = [await createWasmKernels({ threads: 1, relaxed: false }), await createWasmKernels({ threads: 1 }), await createWasmKernels({ threads: 2 })];
  // This machine's Node runs relaxed SIMD (a V8 flag in Node 20): otherwise the test would compare the plain build with itself.
  expect(kernels.map((k) => k.relaxed)).toEqual([false, true, true]);
  const results = [];
  for (const k of kernels) {
    const runner = await createWasmRunner(source(), options, k);
    results.push(await logits(runner));
    runner.dispose();
    k.dispose();
  }
  for (const other of results.slice(1)) for (let i = 0; i < other.length; i++) expect(other[i], `forward ${i}`).toEqual(results[0][i]);
});
