// Batched generation (runtime/generate.ts): requests repeating a prompt share its prefill (computed once,
// K/V pages copied) and still get exactly the tokens they would get generated alone.
import { expect, test } from 'vitest';
import { generate, type GenerateRequest } from '../src/runtime/generate.ts';
import type { ModelRunner } from '../src/runtime/types.ts';
import { createWasmRunner } from '../src/runtime/wasm-runner.ts';
import { TEST_PROMPT, testModelSource } from '../src/testing/model-checks.ts';

/** The runner, counting the tokens its forward calls compute. */
function counting(runner: ModelRunner): { runner: ModelRunner; tokens: () => number } {
  let tokens = 0;
  return {
    runner: {
      ...runner,
      forward: (batch) => {
        for (const c of batch.chunks) tokens += c.tokens.length;
        return runner.forward(batch);
      },
      copyPages: (pairs) => runner.copyPages(pairs),
    },
    tokens: () => tokens,
  };
}

test('a prompt shared by several requests is prefilled once; every request gets the tokens it gets alone', async () => {
  const options = { sampling: { temperature: 0.9, topK: 0, topP: 1, seed: 7 }, eosTokenIds: [], maxBatchTokens: 64 };
  const other = [3, 1, 4, 1, 5, 9, 2, 6];
  const requests: GenerateRequest[] = [TEST_PROMPT, TEST_PROMPT, other, TEST_PROMPT, other].map((prompt) => ({ prompt, maxTokens: 12 }));
  const base = await createWasmRunner(testModelSource(), { weightFormat: 'q4', numPages: 32, maxBatchTokens: 64 });
  const batched = counting(base);
  const together = await generate(batched.runner, requests, options);
  // Prefill computed the two distinct prompts once each; decode computed one token per request per step.
  const decodeTokens = together.tokens.reduce((a, t) => a + t.length - 1, 0);
  expect(batched.tokens()).toBe(TEST_PROMPT.length + other.length + decodeTokens);
  // Sampled (different lineages): the repeats of one prompt diverge.
  expect(together.tokens[1]).not.toEqual(together.tokens[0]);
  // Each request alone, as request i of a batch of placeholders (its lineage is its index).
  for (const [i, r] of requests.entries()) {
    const alone = await generate(
      base,
      requests.map((_q, k) => (k === i ? r : { prompt: [1 + k], maxTokens: 1 })),
      options,
    );
    expect(alone.tokens[i], `request ${i}`).toEqual(together.tokens[i]);
  }
  base.dispose();
});
