// Runs the kernel checks of src/testing/gpu-checks.ts in the browser and publishes the outcome on
// `window.gpuChecks` for e2e/gpu-checks.spec.ts (and shows it, for the screenshot).
import { createGpu, describeGpu } from '../../src/gpu/device.ts';

import { runGpuChecks, type CheckResult } from '../../src/testing/gpu-checks.ts';
import { greedyTokensOfTestModel } from '../../src/testing/model-checks.ts';

export interface GpuChecksPage {
  state: 'running' | 'done' | 'error';
  adapter?: string;
  checks?: CheckResult[];
  greedyTokens?: number[];
  /** The same, on the CPU route's WebAssembly kernels. */
  greedyTokensWasm?: number[];
  error?: string;
}

declare global {
  interface Window {
    gpuChecks: GpuChecksPage;
  }
}

const out: GpuChecksPage = (window.gpuChecks = { state: 'running' });
const statusLine = document.getElementById('status')!;

async function main(): Promise<void> {
  const gpu = await createGpu();
  out.adapter = describeGpu(gpu);
  try {
    out.checks = await runGpuChecks(gpu);
    out.greedyTokens = await greedyTokensOfTestModel(gpu);
    out.greedyTokensWasm = await greedyTokensOfTestModel('wasm');
  } finally {
    gpu.destroy();
  }
  render(out);
  out.state = 'done';
}

function render(page: GpuChecksPage): void {
  const table = document.getElementById('checks') as HTMLTableElement;
  for (const check of page.checks ?? []) {
    const row = table.insertRow();
    row.insertCell().textContent = check.ok ? 'ok' : 'FAIL';
    row.insertCell().textContent = check.name;
    row.insertCell().textContent = check.detail;
  }
  document.getElementById('tokens')!.textContent = `greedy tokens: ${page.greedyTokens?.join(' ')}`;
  const failed = (page.checks ?? []).filter((c) => !c.ok).length;
  statusLine.textContent = `${page.adapter}: ${page.checks?.length ?? 0} checks, ${failed} failed`;
}

main().catch((error: unknown) => {
  out.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  out.state = 'error';
  statusLine.textContent = `error: ${out.error}`;
});
