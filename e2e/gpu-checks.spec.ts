// Every WebGPU kernel check passes in headless Chromium, and the test model's greedy tokens in the
// browser equal those computed in Node by the same code on Dawn, and on the CPU route's WebAssembly
// kernels equal Node's on the same kernels.
import { expect, test } from '@playwright/test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PAGES_URL } from './browser.ts';
import type { GpuChecksPage } from './pages/gpu-checks.ts';

const run = promisify(execFile);

async function greedyTokensInNode(): Promise<{ tokens: number[]; wasmTokens: number[] }> {
  const { stdout } = await run(process.execPath, ['e2e/node/greedy-tokens.mjs'], {
    env: { ...process.env, EGL_PLATFORM: 'surfaceless' },
    timeout: 150_000,
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

test('WebGPU kernel checks pass in Chromium and match Node', async ({ page }, testInfo) => {
  // Start the Node side first: it runs on its own process while the browser works.
  const nodeTokens = greedyTokensInNode();
  nodeTokens.catch(() => {}); // awaited below; avoid an unhandled rejection while the browser runs

  await page.goto(`${PAGES_URL}/e2e/pages/gpu-checks.html`);
  await page.waitForFunction(() => window.gpuChecks && window.gpuChecks.state !== 'running', null, { timeout: 150_000 });
  const result: GpuChecksPage = await page.evaluate(() => window.gpuChecks);
  testInfo.annotations.push({ type: 'adapter', description: result.adapter ?? 'unknown' });
  console.log(`gpu-checks: ${result.adapter}; ${result.checks?.length ?? 0} checks, ${result.checks?.filter((c) => !c.ok).length ?? 0} failed`);
  await testInfo.attach('gpu-checks.json', { body: JSON.stringify(result, null, 2), contentType: 'application/json' });

  expect(result.error, `gpu-checks page failed (is src/testing/gpu-checks.ts present?)`).toBeUndefined();
  expect(result.checks!.length, 'no checks ran').toBeGreaterThan(0);
  for (const check of result.checks!) expect.soft(check.ok, `${check.name}: ${check.detail}`).toBe(true);

  expect(result.greedyTokens).toHaveLength(64);
  const node = await nodeTokens;
  expect(result.greedyTokens).toEqual(node.tokens);
  expect(result.greedyTokensWasm).toHaveLength(64);
  expect(result.greedyTokensWasm).toEqual(node.wasmTokens);
});
