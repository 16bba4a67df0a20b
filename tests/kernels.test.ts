// Every WGSL kernel against its CPU reference on random inputs (Node, Dawn; the CPU route here).
// The checks and their tolerances live in src/testing/gpu-checks.ts so the browser suite runs the same.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGpu, type GpuContext } from '../src/gpu/device.ts';
import { WEIGHT_FORMATS } from '../src/gpu/quant.ts';
import { checkMatmul, kernelChecks } from '../src/testing/gpu-checks.ts';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.destroy());

describe('kernels vs CPU reference', () => {
  for (const c of kernelChecks()) {
    test(c.name, async () => {
      const r = await c.run(gpu);
      expect(r.ok, `${r.name}: ${r.detail}`).toBe(true);
    });
  }

  for (const format of WEIGHT_FORMATS) {
    test(`the matmul tolerance catches one ${format} weight off by one quantization step`, async () => {
      const r = await checkMatmul(gpu, { format, deviceClass: 'cpu', rows: 2, k: 64, n: 8, bias: false, accumulate: false, perturbReference: true });
      expect(r.ok, r.detail).toBe(false);
    });
  }
});
