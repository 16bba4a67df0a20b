// The GPU layer and the runner's edges: route and adapter report, device loss (typed error, then a new
// device works), typed errors for bad input, copyPages, and KV storage in a caller's buffer region.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { classifyAdapter, createGpu, describeGpu, type GpuContext } from '../src/gpu/device.ts';
import { DeviceLostError, FormatError, NoGpuError, OptionError, PromptTooLongError } from '../src/errors.ts';
import { randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import type { ModelSource } from '../src/model/source.ts';
import { CpuReferenceRunner } from '../src/runtime/cpu-reference.ts';
import { createWebGpuRunner, type WebGpuRunner } from '../src/runtime/webgpu-runner.ts';
import { kvBytesPerToken } from '../src/model/config.ts';

let gpu: GpuContext;
let runner: WebGpuRunner;
const source = randomModelSource(tinyConfigJson(), 21);
beforeAll(async () => {
  gpu = await createGpu();
  runner = await createWebGpuRunner(gpu, source, { weightFormat: 'q8', numPages: 8, maxBatchTokens: 32 });
});
afterAll(() => {
  runner?.dispose();
  gpu?.destroy();
});

const PROMPT = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26, 43, 38, 32, 79, 50, 28, 84];

describe('device', () => {
  test('reports route, adapter, class, features and limits', () => {
    // This machine has no GPU: the CPU route is Dawn's OpenGL ES backend on llvmpipe, compatibility mode.
    expect(gpu.route).toMatch(/^node-dawn-(opengles|default)\/(core|compatibility)$/);
    expect(gpu.deviceClass).toBe(classifyAdapter(gpu.adapterInfo));
    expect(gpu.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 << 20);
    expect(gpu.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(Array.isArray(gpu.features)).toBe(true);
    expect(describeGpu(gpu)).toContain(gpu.route);
  });

  test('no adapter from navigator.gpu (a browser with WebGPU disabled) is a NoGpuError', async () => {
    const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: async () => null } }, configurable: true });
    try {
      await expect(createGpu()).rejects.toBeInstanceOf(NoGpuError);
    } finally {
      if (had) Object.defineProperty(globalThis, 'navigator', had);
      else delete (globalThis as { navigator?: unknown }).navigator;
    }
  });

  test('classifies software adapters as CPU devices', () => {
    expect(classifyAdapter({ device: 'llvmpipe-llvm-15-0-6-256-bits-' })).toBe('cpu');
    expect(classifyAdapter({ vendor: 'google', description: 'SwiftShader Device (Subzero)' })).toBe('cpu');
    expect(classifyAdapter({ vendor: 'nvidia', description: 'NVIDIA H200' })).toBe('gpu');
  });

  test('device loss: calls fail with DeviceLostError, and a new device works afterwards', async () => {
    const lost = await createGpu();
    const r = await createWebGpuRunner(lost, source, { weightFormat: 'f32', numPages: 2, maxBatchTokens: 8 });
    const batch = { chunks: [{ blockTable: [0], start: 0, tokens: [1, 2, 3], outputRows: [2] }] };
    const before = await r.forward(batch);
    const inFlight = r.forward(batch);
    lost.destroy();
    await expect(inFlight).rejects.toBeInstanceOf(DeviceLostError);
    await expect(r.forward(batch)).rejects.toBeInstanceOf(DeviceLostError);
    await expect(r.copyPages([[0, 1]])).rejects.toBeInstanceOf(DeviceLostError);
    await expect(createWebGpuRunner(lost, source, { weightFormat: 'f32', numPages: 2 })).rejects.toBeInstanceOf(DeviceLostError);
    const fresh = await createGpu();
    const again = await createWebGpuRunner(fresh, source, { weightFormat: 'f32', numPages: 2, maxBatchTokens: 8 });
    expect((await again.forward(batch)).logits).toEqual(before.logits);
    again.dispose();
    fresh.destroy();
  });
});

describe('typed errors for bad input', () => {
  const chunk = (o: object) => ({ chunks: [{ blockTable: [0, 1], start: 0, tokens: [1, 2], outputRows: [1], ...o }] });
  test.each([
    ['token outside the vocabulary', chunk({ tokens: [1, 96] }), OptionError],
    ['negative start', chunk({ start: -1 }), OptionError],
    ['block table too short', chunk({ blockTable: [], tokens: [1] }), OptionError],
    ['page out of range', chunk({ blockTable: [8] }), OptionError],
    ['output rows not ascending', chunk({ outputRows: [1, 0] }), OptionError],
    ['output row outside the chunk', chunk({ outputRows: [2] }), OptionError],
    ['position past the context', chunk({ start: 511, blockTable: Array(33).fill(0) }), PromptTooLongError],
    ['more tokens than maxBatchTokens', chunk({ tokens: Array(33).fill(1), blockTable: [0, 1, 2] }), OptionError],
  ])('%s', async (_, batch, type) => {
    await expect(runner.forward(batch as never)).rejects.toBeInstanceOf(type);
  });

  test('copyPages rejects bad pairs', async () => {
    await expect(runner.copyPages([[0, 9]])).rejects.toBeInstanceOf(OptionError);
    await expect(
      runner.copyPages([
        [0, 1],
        [1, 2],
      ]),
    ).rejects.toBeInstanceOf(OptionError);
    await expect(
      runner.copyPages([
        [0, 1],
        [2, 1],
      ]),
    ).rejects.toBeInstanceOf(OptionError);
  });

  test('malformed models and options', async () => {
    const missing: ModelSource = {
      ...source,
      async *tensors() {
        for await (const t of source.tensors()) if (t.name !== 'model.norm.weight') yield t;
      },
    };
    await expect(createWebGpuRunner(gpu, missing, { weightFormat: 'q4', numPages: 2 })).rejects.toBeInstanceOf(FormatError);
    const misshapen: ModelSource = {
      ...source,
      async *tensors() {
        for await (const t of source.tensors()) yield t.name === 'model.norm.weight' ? { ...t, shape: [32, 2] } : t;
      },
    };
    await expect(createWebGpuRunner(gpu, misshapen, { weightFormat: 'q4', numPages: 2 })).rejects.toBeInstanceOf(FormatError);
    const corrupt: ModelSource = {
      ...source,
      async *tensors() {
        for await (const t of source.tensors())
          yield t.name === 'model.layers.1.mlp.up_proj.weight' ? { ...t, values: t.values.map((v, i) => (i === 77 ? NaN : v)) } : t;
      },
    };
    await expect(createWebGpuRunner(gpu, corrupt, { weightFormat: 'q4', numPages: 2 })).rejects.toThrow(/non-finite value \(NaN\) at index 77/);
    await expect(createWebGpuRunner(gpu, source, { weightFormat: 'q5' as never, numPages: 2 })).rejects.toBeInstanceOf(OptionError);
    await expect(createWebGpuRunner(gpu, source, { weightFormat: 'q4', numPages: 0 })).rejects.toBeInstanceOf(OptionError);
    // Activations of 10^6 token rows cannot fit one storage binding.
    await expect(createWebGpuRunner(gpu, source, { weightFormat: 'q4', numPages: 2, maxBatchTokens: 1_000_000 })).rejects.toBeInstanceOf(OptionError);
    const odd = randomModelSource(tinyConfigJson({ hidden_size: 72, num_attention_heads: 4, num_key_value_heads: 2 }), 1);
    await expect(createWebGpuRunner(gpu, odd, { weightFormat: 'f32', numPages: 2 })).rejects.toBeInstanceOf(FormatError);
  });
});

describe('KV pages', () => {
  test('copyPages: a sequence forked onto copied pages continues exactly like the original (and like the reference)', async () => {
    const ref = await CpuReferenceRunner.create(source, { weightFormat: 'q8', numPages: 8 });
    const prefill = { chunks: [{ blockTable: [2, 3], start: 0, tokens: PROMPT, outputRows: [] as number[] }] };
    await runner.forward(prefill);
    await ref.forward(prefill);
    // Fork: share page 2 (full), copy the partly filled page 3 to page 5.
    await runner.copyPages([[3, 5]]);
    await ref.copyPages([[3, 5]]);
    const step = (table: number[]) => ({ chunks: [{ blockTable: table, start: PROMPT.length, tokens: [7], outputRows: [0] }] });
    const original = await runner.forward(step([2, 3]));
    const fork = await runner.forward(step([2, 5]));
    expect(fork.logits).toEqual(original.logits);
    const r = await ref.forward(step([2, 5]));
    let worst = 0;
    for (let i = 0; i < r.logits!.length; i++) worst = Math.max(worst, Math.abs(r.logits![i] - fork.logits![i]));
    expect(worst).toBeLessThan(1e-4);
  });

  test('KV storage in a region of a caller-provided buffer gives the same logits', async () => {
    // f16 K/V by default: 2 bytes per element.
    const pageBytes = 16 * kvBytesPerToken(source.config, 2);
    expect(runner.kvDtype).toBe('f16');
    expect(runner.pageBytes).toBe(pageBytes);
    const arena = gpu.device.createBuffer({ size: 512 + 4 * pageBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    const shared = await createWebGpuRunner(gpu, source, {
      weightFormat: 'q8',
      numPages: 0,
      maxBatchTokens: 32,
      kv: { buffer: arena, offsetBytes: 512, numPages: 4 },
    });
    expect(shared.numPages).toBe(4);
    const batch = { chunks: [{ blockTable: [1, 3], start: 0, tokens: PROMPT, outputRows: [0, PROMPT.length - 1] }] };
    const own = await runner.forward({ chunks: [{ ...batch.chunks[0], blockTable: [6, 7] }] });
    expect((await shared.forward(batch)).logits).toEqual(own.logits);
    await expect(
      createWebGpuRunner(gpu, source, { weightFormat: 'q8', numPages: 0, kv: { buffer: arena, offsetBytes: 100, numPages: 4 } }),
    ).rejects.toBeInstanceOf(OptionError);
    shared.dispose();
    arena.destroy();
  });
});
