// Decode benchmark of one route (WebGPU or the CPU route, src/runtime/route.ts) on one or more models:
// load seconds, prefill milliseconds per token at 1 and 128 prompt tokens, decode tokens/s at batch 1,
// 4, 16 and 64, and the weight bytes/s decode reaches as a fraction of the route's own copy bandwidth
// measured in the same run (decode of one token per sequence reads every weight once per step, so that
// fraction says how close to memory-bound the kernels are). Models: a model location (`--model`: a
// directory, .gguf file or URL), else (a) a small random test model and (b) random weights with the
// Qwen2.5-Math-1.5B shapes in q4, (b) only on GPU-class devices unless asked for.
import { describeGpu, type GpuContext } from '../gpu/device.ts';
import { OptionError } from '../errors.ts';
import { randomModelSource } from '../model/random-model.ts';
import { openModel } from '../model/open-model.ts';
import type { WeightFormat } from '../gpu/quant.ts';
import type { ModelSource } from '../model/source.ts';
import { forwardInParts } from '../runtime/forward-batch.ts';
import { closeRoute, createRouteRunner, openRoute, type Route, type RouteChoice, type RouteRunner } from '../runtime/route.ts';
import type { KvDtype } from '../gpu/kv-dtype.ts';
import { weightFormatFor } from '../api/backend.ts';

export type BenchModel = 'small' | 'qwen2.5-math-1.5b-shapes';

export interface BenchDecodeOptions {
  /** The route: a choice (default 'auto', as the engine) or an opened route; `gpu` is WebGPU on that device. */
  route?: RouteChoice | Route;
  /** Threads of the CPU route (default: the machine's). */
  threads?: number;
  gpu?: GpuContext;
  /** Default: ['small'], plus the 1.5B shapes on a GPU-class device. */
  models?: BenchModel[];
  /** A model location to measure instead (directory, .gguf file or URL): its load is timed too. */
  model?: string;
  /** Another model source to measure instead of the built-in small one (e.g. a bundled model). */
  source?: ModelSource;
  batches?: number[];
  /** Prompt lengths whose prefill is timed. Default [1, 128]. */
  prefillLengths?: number[];
  /** Default: q4 for the built-in models, the engine's choice (weightFormatFor) for `model`. */
  weightFormat?: WeightFormat;
  /** Timed decode steps per batch size (after 2 warm-up steps). Default 16 on GPUs, 6 on CPUs. */
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

/** One model's figures, keyed as in `bench --decode --json`. */
export interface BenchDecodeModel {
  model: string;
  weight_format: WeightFormat;
  /** Seconds from opening the model to a ready runner (for the built-in random models: generating the weights too). */
  load_s: number;
  /** Milliseconds per prompt token, keyed by prompt length. */
  prefill_ms_per_token: Record<string, number>;
  /** Tokens per second, keyed by batch size. */
  decode_tokens_per_s: Record<string, number>;
}

export interface BenchDecodeResult extends BenchDecodeModel {
  /** 'webgpu' or 'cpu'. */
  route: 'webgpu' | 'cpu';
  /** The route and why, e.g. "cpu: WebAssembly SIMD, 1 thread (the WebGPU adapter is a CPU: ...)". */
  routeDetail: string;
  deviceClass: 'cpu' | 'gpu';
  /** Bytes per second of a large copy on the route (read + write counted once each). */
  copyBytesPerSecond: number;
  rows: BenchDecodeRow[];
  /** Every model measured; the top-level load_s, prefill and decode figures are the last one's. */
  models: BenchDecodeModel[];
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

/** Bytes per second of a 64 MiB copy within the CPU route's memory (read + write counted). */
function measureCpuCopyBandwidth(route: Extract<Route, { kind: 'cpu' }>): number {
  const bytes = 64 << 20;
  const at = route.kernels.alloc(2 * bytes, 'copy bandwidth');
  const mem = route.kernels.u8(at, 2 * bytes);
  mem.copyWithin(bytes, 0, bytes);
  const times = 4;
  const t0 = performance.now();
  for (let i = 0; i < times; i++) mem.copyWithin(i % 2 ? 0 : bytes, i % 2 ? bytes : 0, i % 2 ? 2 * bytes : bytes);
  return (2 * bytes * times) / ((performance.now() - t0) / 1000);
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
  route: Route,
  name: string,
  open: () => Promise<ModelSource>,
  format: (source: ModelSource) => WeightFormat,
  o: { batches: number[]; steps: number; promptTokens: number; prefillLengths: number[]; copyBps: number; kvDtype?: KvDtype },
): Promise<{ rows: BenchDecodeRow[]; summary: BenchDecodeModel }> {
  const { batches, steps, promptTokens, prefillLengths } = o;
  const maxBatch = Math.max(...batches);
  const longest = Math.max(promptTokens + steps + 2, ...prefillLengths);
  const pagesEach = Math.ceil(longest / 16);
  const t0 = performance.now();
  const source = await open();
  const weightFormat = format(source);
  // A forward holds the longest prefill timed (so a 128-token prompt is one batch) and each decode batch's prompts.
  const batchTokens = Math.max(64, Math.min(256, Math.max(maxBatch * promptTokens, ...prefillLengths)));
  const runner: RouteRunner = await createRouteRunner(route, source, {
    weightFormat,
    numPages: maxBatch * pagesEach,
    maxBatchTokens: batchTokens,
    kvDtype: o.kvDtype,
  });
  const loadS = (performance.now() - t0) / 1000;
  const vocab = source.config.vocabSize;
  const rows: BenchDecodeRow[] = [];
  const prefill: Record<string, number> = {};
  const decode: Record<string, number> = {};
  const table = (s: number) => Array.from({ length: pagesEach }, (_, i) => s * pagesEach + i);
  const prompt = (s: number, length: number) => Array.from({ length }, (_, i) => (s * 31 + i * 7) % vocab);
  const run = (chunks: Parameters<RouteRunner['forward']>[0]['chunks']) => forwardInParts(runner, { chunks }, batchTokens);
  try {
    // Prefill: a warm-up call, then the median of 3 calls (page 0 onward rewritten each time).
    for (const length of prefillLengths) {
      const once = async () => {
        const t = performance.now();
        await run([{ blockTable: table(0), start: 0, tokens: prompt(0, length), outputRows: [length - 1] }]);
        return performance.now() - t;
      };
      await once();
      const times = [await once(), await once(), await once()].sort((a, b) => a - b);
      prefill[String(length)] = times[1] / length;
    }
    for (const batch of batches) {
      const seqs = Array.from({ length: batch }, (_, s) => s);
      await run(seqs.map((s) => ({ blockTable: table(s), start: 0, tokens: prompt(s, promptTokens), outputRows: [promptTokens - 1] })));
      const step = (k: number) =>
        runner.forward({ chunks: seqs.map((s) => ({ blockTable: table(s), start: promptTokens + k, tokens: [(s + k * 13) % vocab], outputRows: [0] })) });
      await step(0);
      await step(1);
      const t1 = performance.now();
      for (let k = 2; k < steps + 2; k++) await step(k);
      const ms = (performance.now() - t1) / steps;
      const wbps = runner.weightBytes / (ms / 1000);
      decode[String(batch)] = (batch * 1000) / ms;
      rows.push({
        model: name,
        weightFormat,
        batch,
        steps,
        msPerStep: ms,
        tokensPerSecond: (batch * 1000) / ms,
        weightBytes: runner.weightBytes,
        weightBytesPerSecond: wbps,
        fractionOfCopyBandwidth: wbps / o.copyBps,
      });
    }
  } finally {
    runner.dispose();
  }
  return { rows, summary: { model: name, weight_format: weightFormat, load_s: loadS, prefill_ms_per_token: prefill, decode_tokens_per_s: decode } };
}

export function formatBenchTable(r: Omit<BenchDecodeResult, 'table'>): string {
  const lines = [
    `decode benchmark, measured on ${r.routeDetail}; copy bandwidth ${(r.copyBytesPerSecond / 1e9).toFixed(2)} GB/s`,
    'model                      fmt  batch  ms/step   tokens/s  weight GB/s  of copy bw',
  ];
  for (const x of r.rows) {
    lines.push(
      `${x.model.padEnd(26)} ${x.weightFormat.padEnd(4)} ${String(x.batch).padStart(5)} ${x.msPerStep.toFixed(2).padStart(8)} ${x.tokensPerSecond.toFixed(1).padStart(10)} ${(x.weightBytesPerSecond / 1e9).toFixed(3).padStart(12)} ${(100 * x.fractionOfCopyBandwidth).toFixed(1).padStart(10)}%`,
    );
  }
  for (const m of r.models) {
    const prefill = Object.entries(m.prefill_ms_per_token).map(([n, ms]) => `${ms.toFixed(2)} ms/token at ${n}`);
    lines.push(`${m.model}: load ${m.load_s.toFixed(2)} s; prefill ${prefill.join(', ')}`);
  }
  return lines.join('\n');
}

export async function benchDecode(opts: BenchDecodeOptions = {}): Promise<BenchDecodeResult> {
  const batches = opts.batches ?? [1, 4, 16, 64];
  if (!batches.length || batches.some((b) => !Number.isInteger(b) || b < 1 || b > 1024))
    throw new OptionError(`decode benchmark batch sizes must be integers in 1..1024, got ${batches.join(',')}`);
  const prefillLengths = opts.prefillLengths ?? [1, 128];
  if (!prefillLengths.length || prefillLengths.some((n) => !Number.isInteger(n) || n < 1 || n > 4096))
    throw new OptionError(`prefill lengths must be integers in 1..4096, got ${prefillLengths.join(',')}`);
  const given = opts.gpu
    ? ({ kind: 'webgpu', gpu: opts.gpu, describe: `webgpu: ${describeGpu(opts.gpu)}` } as const)
    : typeof opts.route === 'object'
      ? opts.route
      : null;
  const route = given ?? (await openRoute(opts.route as RouteChoice | undefined, { threads: opts.threads }));
  try {
    const deviceClass = route.kind === 'webgpu' ? route.gpu.deviceClass : 'cpu';
    const steps = opts.steps ?? (deviceClass === 'gpu' ? 16 : 6);
    if (!Number.isInteger(steps) || steps < 1) throw new OptionError(`decode benchmark steps must be a positive integer, got ${steps}`);
    const o = {
      batches,
      steps,
      prefillLengths,
      promptTokens: opts.promptTokens ?? 16,
      kvDtype: opts.kvDtype,
      copyBps: route.kind === 'webgpu' ? await measureCopyBandwidth(route.gpu) : measureCpuCopyBandwidth(route),
    };
    const q4 = () => opts.weightFormat ?? 'q4';
    const jobs: Array<[string, () => Promise<ModelSource>, (s: ModelSource) => WeightFormat]> = [];
    if (opts.model !== undefined) {
      const location = opts.model;
      jobs.push([location, async () => (await openModel(location)).source, (s) => opts.weightFormat ?? weightFormatFor(s)]);
    } else {
      const models = opts.models ?? (deviceClass === 'gpu' ? ['small', 'qwen2.5-math-1.5b-shapes'] : ['small']);
      for (const m of models) {
        const small = opts.source ?? randomModelSource(smallBenchConfigJson(), 5, 'small-random');
        if (m === 'small') jobs.push([small.name, async () => small, q4]);
        else jobs.push([m, async () => randomModelSource(qwen15bConfigJson(), 5, 'qwen2.5-math-1.5b-shapes'), q4]);
      }
    }
    const rows: BenchDecodeRow[] = [];
    const models: BenchDecodeModel[] = [];
    for (const [name, open, format] of jobs) {
      const r = await benchModel(route, name, open, format, o);
      rows.push(...r.rows);
      models.push(r.summary);
    }
    const result = {
      ...models[models.length - 1],
      route: route.kind,
      routeDetail: route.describe,
      deviceClass,
      copyBytesPerSecond: o.copyBps,
      rows,
      models,
    };
    return { ...result, table: formatBenchTable(result) };
  } finally {
    if (!given) closeRoute(route);
  }
}
