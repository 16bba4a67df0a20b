// Load progress tells the truth: quantized formats report a quantize phase before each matrix is packed,
// and upload progress counts the bytes written to the GPU, ending at the total.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type GpuContext } from '../src/gpu/device.ts';
import { expectedTensors } from '../src/model/config.ts';
import { randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import type { LoadProgress } from '../src/model/source.ts';
import { createWebGpuRunner } from '../src/runtime/webgpu-runner.ts';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.destroy());

const source = randomModelSource(tinyConfigJson(), 3);
const tensors = expectedTensors(source.config);
const vectorBytes = [...tensors.values()].filter((s) => s.length === 1).reduce((a, s) => a + s[0] * 4, 0);

async function load(weightFormat: 'f32' | 'q8' | 'q4') {
  const events: LoadProgress[] = [];
  const runner = await createWebGpuRunner(gpu, source, { weightFormat, numPages: 2, maxBatchTokens: 8, onProgress: (p) => events.push({ ...p }) });
  runner.dispose();
  return { events, weightBytes: runner.weightBytes };
}

describe('load progress', () => {
  for (const format of ['q8', 'q4'] as const) {
    it(`${format}: a quantize event before each matrix, upload bytes rising to the GPU total`, async () => {
      const { events, weightBytes } = await load(format);
      const matrices = [...tensors.values()].filter((s) => s.length === 2).length;
      // v_head / score.2 stay f32: this causal LM has no such head, so every matrix is quantized.
      expect(events.filter((e) => e.phase === 'quantize')).toHaveLength(matrices);
      const uploads = events.filter((e) => e.phase === 'upload');
      expect(uploads).toHaveLength(tensors.size);
      for (let i = 1; i < uploads.length; i++) expect(uploads[i].bytesDone).toBeGreaterThan(uploads[i - 1].bytesDone);
      const last = uploads[uploads.length - 1];
      expect(last).toMatchObject({
        bytesDone: weightBytes + vectorBytes,
        bytesTotal: weightBytes + vectorBytes,
        tensorsDone: tensors.size,
        tensorsTotal: tensors.size,
      });
      expect(events.every((e) => e.bytesTotal === weightBytes + vectorBytes)).toBe(true);
    });
  }

  it('f32: nothing is quantized, so no quantize phase', async () => {
    const { events, weightBytes } = await load('f32');
    expect(events.some((e) => e.phase === 'quantize')).toBe(false);
    expect(events[events.length - 1]).toMatchObject({ phase: 'upload', bytesDone: weightBytes + vectorBytes, tensorsDone: tensors.size });
  });
});
