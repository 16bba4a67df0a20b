// The same random weights written in every supported format give the same logits through the engine's
// CPU reference forward (the reference the WebGPU runner is checked against), within each format's
// tolerance. f32 safetensors and GGUF F32 must be bitwise identical to the in-memory model.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModel } from '../src/model/open-model.ts';
import { randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import type { ModelSource } from '../src/model/source.ts';
import { createGpu, type GpuContext } from '../src/gpu/device.ts';
import { packMatrix, type WeightFormat } from '../src/gpu/quant.ts';
import { weightFormatFor } from '../src/api/backend.ts';
import { CpuReferenceRunner } from '../src/runtime/cpu-reference.ts';
import { createWebGpuRunner } from '../src/runtime/webgpu-runner.ts';
import { maxRelativeDiff, MODEL_LOGITS_TOLERANCE } from '../src/testing/model-checks.ts';
import { writeFixtureModel, type FixtureOptions } from '../tools/make-fixture-model.ts';

// K-quants need rows of 256 values.
const config = tinyConfigJson({ hidden_size: 256, intermediate_size: 512, vocab_size: 320, num_attention_heads: 4, num_key_value_heads: 2 });
const TOKENS = [5, 17, 200, 3, 99, 318, 42, 7];

async function logits(source: ModelSource, weightFormat: WeightFormat = 'f32'): Promise<Float32Array> {
  const runner = await CpuReferenceRunner.create(source, { weightFormat, numPages: 1, pageSize: 16 });
  const out = await runner.forward({ chunks: [{ blockTable: [0], start: 0, tokens: TOKENS, outputRows: TOKENS.map((_, i) => i) }] });
  runner.dispose();
  return out.logits!;
}

let root: string;
let reference: Float32Array;
let scale: number;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fasttts-formats-'));
  reference = await logits(randomModelSource(config, 11));
  scale = Math.sqrt(reference.reduce((a, v) => a + v * v, 0) / reference.length);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

// Tolerances: RMS of the logit error relative to the RMS logit. f16 keeps 11 significant bits, bf16 8;
// the block quantizers add rounding noise of about (step / 2) per weight, amplified through the layers of a
// random (untrained) model. Measured: f16 5e-4, bf16 4e-3, Q8_0 8e-3, Q6_K 3e-2, Q4_0/Q4_K 0.13; the bounds
// are 2-4x that, far below the ~1.4 relative error of uncorrelated logits (a wrong layout or name map). Rows must also agree on the top token where the
// reference's margin is clear.
const cases: Array<[string, FixtureOptions, number]> = [
  ['safetensors f32', { dtype: 'f32' }, 0],
  ['safetensors f16, 2 shards', { dtype: 'f16', shards: 2 }, 0.002],
  ['safetensors bf16, 3 shards', { dtype: 'bf16', shards: 3 }, 0.015],
  ['GGUF F32', { format: 'gguf', ggufType: 'F32' }, 0],
  ['GGUF F16', { format: 'gguf', ggufType: 'F16' }, 0.002],
  ['GGUF Q8_0', { format: 'gguf', ggufType: 'Q8_0' }, 0.025],
  ['GGUF Q6_K', { format: 'gguf', ggufType: 'Q6_K' }, 0.08],
  ['GGUF Q4_0', { format: 'gguf', ggufType: 'Q4_0' }, 0.3],
  ['GGUF Q4_K', { format: 'gguf', ggufType: 'Q4_K' }, 0.3],
];

describe('same weights, every format, same logits', () => {
  for (const [label, opts, tol] of cases) {
    it(`${label}: logit error within ${tol} of the RMS logit`, async () => {
      const dir = join(root, label.replace(/[^\w]+/g, '-'));
      await writeFixtureModel(dir, config, { ...opts, seed: 11 });
      // GGUF: the directory (config.json, tokenizer and model.gguf) stands for its lone .gguf file.
      const model = await openModel(dir);
      expect(model.format).toBe(opts.format ?? 'safetensors');
      const got = await logits(model.source);
      let worst = 0;
      let se = 0;
      for (let i = 0; i < got.length; i++) {
        worst = Math.max(worst, Math.abs(got[i] - reference[i]));
        se += (got[i] - reference[i]) ** 2;
      }
      const relRms = Math.sqrt(se / got.length) / scale;
      console.log(
        `${label}: logit error RMS ${relRms.toExponential(2)}, max ${(worst / scale).toExponential(2)} (relative to the RMS logit ${scale.toFixed(2)})`,
      );
      if (tol === 0) {
        expect(Buffer.compare(Buffer.from(got.buffer), Buffer.from(reference.buffer))).toBe(0);
        return;
      }
      expect(relRms).toBeLessThanOrEqual(tol);
      const V = 320;
      for (let r = 0; r < TOKENS.length; r++) {
        const row = reference.subarray(r * V, (r + 1) * V);
        const sorted = [...row].sort((a, b) => b - a);
        if (sorted[0] - sorted[1] < 2 * worst) continue; // too close to call at this format's precision
        const argmax = (a: Float32Array) => a.indexOf(Math.max(...a));
        expect(argmax(got.subarray(r * V, (r + 1) * V))).toBe(argmax(row));
      }
    });
  }
});

// Through the WebGPU runner (llvmpipe here): a loaded checkpoint streams into the engine, is packed into
// the engine's weight format on the way, and gives the CPU reference's logits on the same weights.
describe('loaded checkpoints through the WebGPU runner', () => {
  let gpu: GpuContext;
  beforeAll(async () => {
    gpu = await createGpu();
  });
  afterAll(() => gpu?.destroy());

  const engineCases: Array<[string, FixtureOptions, WeightFormat]> = [
    ['safetensors bf16, 2 shards, engine f32', { dtype: 'bf16', shards: 2 }, 'f32'],
    ['GGUF Q4_K, engine q4', { format: 'gguf', ggufType: 'Q4_K' }, 'q4'],
    ['safetensors f16, engine f16', { dtype: 'f16' }, 'f16'],
    ['safetensors bf16, engine bf16', { dtype: 'bf16' }, 'bf16'],
    ['GGUF F16, engine f16', { format: 'gguf', ggufType: 'F16' }, 'f16'],
  ];
  for (const [label, opts, weightFormat] of engineCases) {
    it(`${label}: WebGPU logits equal the CPU reference within ${MODEL_LOGITS_TOLERANCE}`, async () => {
      const dir = join(root, `engine-${label.replace(/[^\w]+/g, '-')}`);
      await writeFixtureModel(dir, config, { ...opts, seed: 11 });
      const model = await openModel(dir);
      const runner = await createWebGpuRunner(gpu, model.source, { weightFormat, numPages: 1, pageSize: 16, maxBatchTokens: 16 });
      try {
        const out = await runner.forward({ chunks: [{ blockTable: [0], start: 0, tokens: TOKENS, outputRows: TOKENS.map((_, i) => i) }] });
        const want = await logits(model.source, weightFormat);
        expect(maxRelativeDiff(out.logits!, want)).toBeLessThanOrEqual(MODEL_LOGITS_TOLERANCE);
      } finally {
        runner.dispose();
      }
    });
  }
});

// A checkpoint in 16-bit floats stays 16-bit: its matrices arrive as their stored halves (no f32 copy
// unless asked for), the engine picks that format for a small model, and the device holds half the bytes.
describe('16-bit checkpoints stay 16-bit', () => {
  const stored: Array<[string, FixtureOptions, WeightFormat | undefined]> = [
    ['safetensors f32', { dtype: 'f32' }, 'f32'],
    ['safetensors f16', { dtype: 'f16' }, 'f16'],
    ['safetensors bf16, 2 shards', { dtype: 'bf16', shards: 2 }, 'bf16'],
    ['GGUF F16', { format: 'gguf', ggufType: 'F16' }, 'f16'],
    ['GGUF Q8_0', { format: 'gguf', ggufType: 'Q8_0' }, 'q8'],
    ['GGUF Q4_K', { format: 'gguf', ggufType: 'Q4_K' }, undefined],
  ];
  for (const [label, opts, format] of stored) {
    it(`${label}: stored as ${format ?? 'a type the engine converts'}, run as ${format ?? 'f32'}`, async () => {
      const dir = join(root, `stored-${label.replace(/[^\w]+/g, '-')}`);
      await writeFixtureModel(dir, config, { ...opts, seed: 11 });
      const model = await openModel(dir);
      expect(model.source.storedFormat).toBe(format);
      expect(weightFormatFor(model.source)).toBe(format ?? 'f32');
      if (format !== 'f16' && format !== 'bf16') return;
      let matrices = 0;
      for await (const t of model.source.tensors()) {
        if (t.shape.length !== 2) continue;
        matrices++;
        expect(t.packed?.format).toBe(format);
        // The halves as stored: rounding the decoded values again changes nothing.
        expect(Buffer.compare(Buffer.from(packMatrix(t.values, t.shape[0], t.shape[1], format).data.buffer), Buffer.from(t.packed!.data.buffer))).toBe(0);
      }
      expect(matrices).toBeGreaterThan(0);
    });
  }

  it('an f16 checkpoint takes half the device bytes of f32 for its matrices', async () => {
    const gpu = await createGpu();
    const dir = join(root, 'stored-bytes');
    await writeFixtureModel(dir, config, { dtype: 'f16', seed: 11 });
    const model = await openModel(dir);
    const bytes = async (weightFormat: WeightFormat) => {
      const runner = await createWebGpuRunner(gpu, model.source, { weightFormat, numPages: 1, pageSize: 16, maxBatchTokens: 16 });
      runner.dispose();
      return runner.weightBytes;
    };
    try {
      expect((await bytes('f16')) / (await bytes('f32'))).toBe(0.5);
    } finally {
      gpu.destroy();
    }
  });
});
