// The environment-independent check suite (what the browser suite runs in headless Chromium) passes in
// Node too, and the greedy tokens it exposes for the Node-vs-Chromium comparison are stable.
import { expect, test } from 'vitest';
import { runGpuChecks } from '../src/testing/gpu-checks.ts';
import { greedyTokensOfTestModel } from '../src/testing/model-checks.ts';
import { createGpu } from '../src/gpu/device.ts';

test('runGpuChecks: every kernel, model-logits and bitwise check passes', async () => {
  const results = await runGpuChecks();
  const failed = results.filter((r) => !r.ok);
  expect(results.length).toBeGreaterThan(20);
  expect(failed.map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
});

test('greedyTokensOfTestModel gives the same 64 tokens on two devices of one process', async () => {
  const a = await createGpu();
  const b = await createGpu();
  const [ta, tb] = [await greedyTokensOfTestModel(a), await greedyTokensOfTestModel(b)];
  expect(tb).toEqual(ta);
  a.destroy();
  b.destroy();
});
