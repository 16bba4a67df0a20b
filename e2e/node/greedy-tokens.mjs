#!/usr/bin/env node
// Prints, as JSON, the greedy tokens of the test model computed in Node (Dawn, and the CPU route's
// WebAssembly kernels), for comparison with the browser in e2e/gpu-checks.spec.ts. Runs TypeScript through tsx with WGSL importable as text, like bin/fasttts.mjs.
import { register } from 'node:module';

register('../../bin/wgsl-loader.mjs', import.meta.url);
const { register: registerTsx } = await import('tsx/esm/api');
registerTsx();
const { createGpu, describeGpu } = await import('../../src/gpu/device.ts');
const { greedyTokensOfTestModel } = await import('../../src/testing/model-checks.ts');
const gpu = await createGpu();
try {
  const tokens = await greedyTokensOfTestModel(gpu);
  const wasmTokens = await greedyTokensOfTestModel('wasm');
  process.stdout.write(JSON.stringify({ adapter: describeGpu(gpu), tokens, wasmTokens }) + '\n');
} finally {
  gpu.destroy();
}
