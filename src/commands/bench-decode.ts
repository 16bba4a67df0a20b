// Decode benchmark: tokens/s of the WebGPU runner at several batch sizes, and the weight bytes/s it
// achieves as a fraction of the device's own buffer-copy bandwidth measured in the same run (decode of
// one token per sequence reads every weight once per step, so that fraction says how close to
// memory-bound the kernels are). Models: (a) a small random test model; (b) random weights with the
// Qwen2.5-Math-1.5B shapes in q4, only on GPU-class devices unless asked for (a CPU device would take
// minutes per step).
import { createGpu, describeGpu, type GpuContext } from '../gpu/device.ts';
import { OptionError } from '../errors.ts';
import { randomModelSource } from '../model/random-model.ts';
import type { WeightFormat } from '../gpu/quant.ts';
import type { ModelSource } from '../model/source.ts';
import { createWebGpuRunner } from '../runtime/webgpu-runner.ts';
import type { KvDtype } from '../gpu/kv-dtype.ts';

export type BenchModel = 'small' | 'qwen2.5-math-1.5b-shapes';

export interface BenchDecodeOptions {
  /** A device to use (default: createGpu()). */
  gpu?: GpuContext;
  /** Default: ['small'], plus the 1.5B shapes on a GPU-class device. */
  models?: BenchModel[];
  /** Another model to measure instead of the built-in small one (e.g. a bundled model). */
  source?: ModelSource;
  batches?: number[];
  weightFormat?: WeightFormat;
  /** Timed decode steps per batch size (after 2 warm-up steps). Default 16 on GPUs, 6 on CPU devices. */
  steps?: number;
  /** Prompt tokens per sequence before decoding. Default 16. */
  promptTokens?: number;
  /** K/V storage (default f16, the engine's). */
  kvDtype?: KvDtype;
}

export interface BenchDecodeRow {
  model: string;
  weightFormat: WeightFormat;
  batch: number;
  steps: number;
  msPerStep: number;
  tokensPerSecond: number;
  weightBytes: number;
  /** Weight bytes read per second, counting each weight once per step. */
  weightBytesPerSecond: number;
  /** weightBytesPerSecond / copyBytesPerSecond. */
  fractionOfCopyBandwidth: number;
}

export interface BenchDecodeResult {
  route: string;
  deviceClass: 'cpu' | 'gpu';
  /** Bytes per second of a large copyBufferToBuffer (read + write counted once each). */
  copyBytesPerSecond: number;
  rows: BenchDecodeRow[];
  /** The rows as a printable table, with where they were measured. */
  table: string;
}

/** A small Qwen2 (about 3.5M parameters) that decodes in milliseconds even on a CPU device. */
export function smallBenchConfigJson(): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: 256,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 768,
    vocab_size: 4096,
    max_position_embeddings: 1024,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  };
}

/** The Qwen2.5-Math-1.5B-Instruct shapes (../shared/reference/qwen2.5-math-models.md). */
export function qwen15bConfigJson(): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: 1536,
    num_hidden_layers: 28,
    num_attention_heads: 12,
    num_key_value_heads: 2,
    intermediate_size: 8960,
    vocab_size: 151936,
    max_position_embeddings: 4096,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
  };
}

/** Bytes per second of copyBufferToBuffer between two device buffers. */
export async function measureCopyBandwidth(gpu: GpuContext): Promise<number> {
  const d = gpu.device;
  const bytes = Math.min(gpu.deviceClass === 'gpu' ? 256 << 20 : 32 << 20, gpu.limits.maxBufferSize);
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const a = d.createBuffer({ size: bytes, usage });
  const b = d.createBuffer({ size: bytes, usage });
  const copy = async (times: number) => {
    const encoder = d.createCommandEncoder();
    for (let i = 0; i < times; i++) encoder.copyBufferToBuffer(i % 2 ? b : a, 0, i % 2 ? a : b, 0, bytes);
    d.queue.submit([encoder.finish()]);
    await d.queue.onSubmittedWorkDone();
  };
  await copy(2);
  const times = gpu.deviceClass === 'gpu' ? 20 : 4;
  const t0 = performance.now();
  await copy(times);
  const seconds = (performance.now() - t0) / 1000;
  a.destroy();
  b.destroy();
  // Each copy reads and writes `bytes`: count both, as the weight figure counts bytes read.
  return (2 * bytes * times) / seconds;
}

async function benchModel(
  gpu: GpuContext,
  name: string,
  source: ModelSource,
  format: WeightFormat,
  batches: number[],
  steps: number,
  promptTokens: number,
  copyBps: number,
  kvDtype: KvDtype | undefined,
): Promise<BenchDecodeRow[]> {
  const maxBatch = Math.max(...batches);
  const pagesEach = Math.ceil((promptTokens + steps + 2) / 16);
  const runner = await createWebGpuRunner(gpu, source, {
    weightFormat: format,
    numPages: maxBatch * pagesEach,
    maxBatchTokens: Math.max(64, maxBatch * promptTokens),
    kvDtype,
  });
  const vocab = source.config.vocabSize;
  const rows: BenchDecodeRow[] = [];
  try {
    for (const batch of batches) {
      const tables = Array.from({ length: batch }, (_, s) => Array.from({ length: pagesEach }, (_, i) => s * pagesEach + i));
      const prompt = (s: number) => Array.from({ length: promptTokens }, (_, i) => (s * 31 + i * 7) % vocab);
      await runner.forward({ chunks: tables.map((t, s) => ({ blockTable: t, start: 0, tokens: prompt(s), outputRows: [promptTokens - 1] })) });
      const step = (k: number) =>
        runner.forward({ chunks: tables.map((t, s) => ({ blockTable: t, start: promptTokens + k, tokens: [(s + k * 13) % vocab], outputRows: [0] })) });
      await step(0);
      await step(1);
      const t0 = performance.now();
      for (let k = 2; k < steps + 2; k++) await step(k);
      const ms = (performance.now() - t0) / steps;
      const wbps = runner.weightBytes / (ms / 1000);
      rows.push({
        model: name,
        weightFormat: format,
        batch,
        steps,
        msPerStep: ms,
        tokensPerSecond: (batch * 1000) / ms,
        weightBytes: runner.weightBytes,
        weightBytesPerSecond: wbps,
        fractionOfCopyBandwidth: wbps / copyBps,
      });
    }
  } finally {
    runner.dispose();
  }
  return rows;
}

export function formatBenchTable(r: Omit<BenchDecodeResult, 'table'>): string {
  const lines = [
    `decode benchmark, measured on ${r.route}; copy bandwidth ${(r.copyBytesPerSecond / 1e9).toFixed(2)} GB/s`,
    'model                      fmt  batch  ms/step   tokens/s  weight GB/s  of copy bw',
  ];
  for (const x of r.rows) {
    lines.push(
      `${x.model.padEnd(26)} ${x.weightFormat.padEnd(4)} ${String(x.batch).padStart(5)} ${x.msPerStep.toFixed(2).padStart(8)} ${x.tokensPerSecond.toFixed(1).padStart(10)} ${(x.weightBytesPerSecond / 1e9).toFixed(3).padStart(12)} ${(100 * x.fractionOfCopyBandwidth).toFixed(1).padStart(10)}%`,
    );
  }
  return lines.join('\n');
}

export async function benchDecode(opts: BenchDecodeOptions = {}): Promise<BenchDecodeResult> {
  const gpu = opts.gpu ?? (await createGpu());
  try {
    const batches = opts.batches ?? [1, 4, 16, 64];
    if (!batches.length || batches.some((b) => !Number.isInteger(b) || b < 1 || b > 1024))
      throw new OptionError(`decode benchmark batch sizes must be integers in 1..1024, got ${batches.join(',')}`);
    const steps = opts.steps ?? (gpu.deviceClass === 'gpu' ? 16 : 6);
    if (!Number.isInteger(steps) || steps < 1) throw new OptionError(`decode benchmark steps must be a positive integer, got ${steps}`);
    const promptTokens = opts.promptTokens ?? 16;
    const format = opts.weightFormat ?? 'q4';
    const models = opts.models ?? (gpu.deviceClass === 'gpu' ? ['small', 'qwen2.5-math-1.5b-shapes'] : ['small']);
    const copyBytesPerSecond = await measureCopyBandwidth(gpu);
    const rows: BenchDecodeRow[] = [];
    for (const m of models) {
      const source =
        m === 'small'
          ? (opts.source ?? randomModelSource(smallBenchConfigJson(), 5, 'small-random'))
          : randomModelSource(qwen15bConfigJson(), 5, 'qwen2.5-math-1.5b-shapes');
      rows.push(...(await benchModel(gpu, m === 'small' ? source.name : m, source, format, batches, steps, promptTokens, copyBytesPerSecond, opts.kvDtype)));
    }
    const result = { route: describeGpu(gpu), deviceClass: gpu.deviceClass, copyBytesPerSecond, rows };
    return { ...result, table: formatBenchTable(result) };
  } finally {
    if (!opts.gpu) gpu.destroy();
  }
}
