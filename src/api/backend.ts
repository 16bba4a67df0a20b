// The engine's working parts behind the API: the GPU device, the two models loaded onto it (weights
// streamed and quantized tensor by tensor), one KV arena buffer split between them, and the search.
// Runs wherever the GPU lives (the web worker, or Node in-process); engine-core.ts queues calls into it.
import { CancelledError, OptionError, OutOfMemoryError, PromptTooLongError } from '../errors.ts';
import { createGpu, describeGpu, type GpuContext } from '../gpu/device.ts';
import { expectedTensors, kvBytesPerToken, type Qwen2Config } from '../model/config.ts';
import { openModel, type OpenedModel } from '../model/open-model.ts';
import type { WeightFormat } from '../model/quant.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { KvArena } from '../runtime/kv-arena.ts';
import { SequencePages, PageAllocator } from '../runtime/page-allocator.ts';
import { sampleToken, validateSampling, ROOT_LINEAGE } from '../runtime/sampler.ts';
import { createWebGpuRunner, type WebGpuRunner } from '../runtime/webgpu-runner.ts';
import { solveWithSearch } from './solve-search.ts';
import type {
  EngineEvent, EngineInfo, EngineOptions, GenerateOptions, GenerateResult, LoadProgress, ModelLocation, SolveOptions,
  SolveResult,
} from './types.ts';

const MiB = 1024 * 1024;
/** Default total GPU memory budget. */
export const DEFAULT_MEMORY_MB = 512;
/** Models at or below this many parameters keep f32 weights (exact); larger ones are quantized to 4 bits. */
const F32_PARAMETER_LIMIT = 50e6;
/** Tokens per KV page. */
const PAGE_SIZE = 16;
/** Rows per forward call the runners' activation buffers are sized for. */
const MAX_BATCH_TOKENS = 256;
/** The engine refuses budgets whose KV cache could not hold this many tokens per model. */
const MIN_KV_TOKENS = 512;

export interface Backend {
  readonly info: Omit<EngineInfo, 'runsIn'>;
  solve(problem: string, options: SolveOptions, signal: AbortSignal | undefined, onEvent?: (e: EngineEvent) => void): Promise<SolveResult>;
  generate(prompt: string, options: GenerateOptions, signal: AbortSignal | undefined, onText?: (delta: string) => void): Promise<GenerateResult>;
  /** KV pages referenced by live sequences, per model (0 when no call runs). */
  kvPagesInUse(): { generator: number; verifier: number };
  dispose(): void;
}

/** What the search needs from the loaded engine (see solve-search.ts). */
export interface LoadedModels {
  gpu: GpuContext;
  generator: WebGpuRunner;
  verifier: WebGpuRunner;
  generatorModel: OpenedModel;
  verifierModel: OpenedModel;
  tokenizer: Tokenizer;
  verifierTokenizer: Tokenizer;
  arena: KvArena;
  mode: EngineOptions['mode'];
  /** Updated by the search while it runs, for stats() and the cancellation check. */
  livePages: { generator: number; verifier: number };
}

/** The small models shipped with the package (models/arith-generator, models/arith-prm). */
function bundledLocation(which: 'generator' | 'verifier'): string {
  const dir = which === 'generator' ? 'arith-generator' : 'arith-prm';
  const url = new URL(`../../models/${dir}/`, import.meta.url);
  return url.protocol === 'file:' ? decodeURIComponent(url.pathname) : url.href;
}

function resolveLocation(location: ModelLocation | undefined, which: 'generator' | 'verifier'): Exclude<ModelLocation, 'bundled'> {
  if (location === undefined || location === 'bundled') return bundledLocation(which);
  return location;
}

function parameterCount(c: Qwen2Config): number {
  let total = 0;
  for (const shape of expectedTensors(c).values()) total += shape.reduce((a, b) => a * b, 1);
  return total;
}

function weightFormatFor(c: Qwen2Config): WeightFormat {
  return parameterCount(c) <= F32_PARAMETER_LIMIT ? 'f32' : 'q4';
}

/** Bytes of weights on the GPU for a format (q4/q8: groups of 32 with an f32 scale). */
function weightBytes(c: Qwen2Config, format: WeightFormat): number {
  const perWeight = format === 'f32' ? 4 : format === 'q8' ? 1 + 4 / 32 : 0.5 + 4 / 32;
  return parameterCount(c) * perWeight;
}

/** Activation buffers of one runner, roughly: a few [rows, hidden] and [rows, intermediate] f32 arrays plus the head. */
function activationBytes(c: Qwen2Config): number {
  const rows = MAX_BATCH_TOKENS;
  return 4 * rows * (6 * c.hiddenSize + 3 * c.intermediateSize) + 4 * Math.min(rows, 64) * (c.kind === 'causal-lm' ? c.vocabSize : 2);
}

function prefixed(model: LoadProgress['model'], onProgress: (p: LoadProgress) => void) {
  return (p: Omit<LoadProgress, 'model'>) => onProgress({ model, ...p });
}

export async function loadBackend(options: Omit<EngineOptions, 'onProgress'>, onProgress: (p: LoadProgress) => void): Promise<Backend> {
  const memoryMB = options.memoryMB ?? DEFAULT_MEMORY_MB;
  if (!(memoryMB > 0) || !Number.isFinite(memoryMB)) throw new OptionError(`memoryMB must be a positive number, got ${memoryMB}`);
  const mode = options.mode ?? 'fasttts';
  if (mode !== 'fasttts' && mode !== 'baseline') throw new OptionError(`mode must be "fasttts" or "baseline", got "${String(mode)}"`);

  const generatorModel = await openModel(resolveLocation(options.generator, 'generator'), { onProgress: prefixed('generator', onProgress) });
  const verifierModel = await openModel(resolveLocation(options.verifier, 'verifier'), { onProgress: prefixed('verifier', onProgress) });
  if (generatorModel.config.kind !== 'causal-lm') throw new OptionError(`${generatorModel.name} is not a generator (causal LM) model`);
  if (verifierModel.config.kind === 'causal-lm') throw new OptionError(`${verifierModel.name} is not a process reward model`);

  // The budget: weights and activations of both models first, the KV arena gets the rest.
  const gFormat = weightFormatFor(generatorModel.config);
  const vFormat = weightFormatFor(verifierModel.config);
  const fixed = weightBytes(generatorModel.config, gFormat) + weightBytes(verifierModel.config, vFormat) +
    activationBytes(generatorModel.config) + activationBytes(verifierModel.config);
  const gPageBytes = PAGE_SIZE * kvBytesPerToken(generatorModel.config);
  const vPageBytes = PAGE_SIZE * kvBytesPerToken(verifierModel.config);
  const minKv = (MIN_KV_TOKENS / PAGE_SIZE) * (gPageBytes + vPageBytes);
  const kvBytes = memoryMB * MiB - fixed;
  if (kvBytes < minKv) {
    throw new OutOfMemoryError(`a budget of ${memoryMB} MiB leaves ${Math.max(0, kvBytes / MiB).toFixed(1)} MiB for the KV cache after ${(fixed / MiB).toFixed(1)} MiB of weights and activations; at least ${((fixed + minKv) / MiB).toFixed(0)} MiB are needed`);
  }

  const gpu = await createGpu();
  const parts: { destroy(): void }[] = [gpu];
  try {
    const maxBytes = Math.min(gpu.limits.maxBufferSize, kvBytes);
    const arenaBytes = Math.floor(maxBytes / 256) * 256;
    const arena = new KvArena({
      totalBytes: arenaBytes, pageSize: PAGE_SIZE, generatorPageBytes: gPageBytes, verifierPageBytes: vPageBytes,
      maxRegionBytes: gpu.limits.maxStorageBufferBindingSize, offsetAlignment: gpu.limits.minStorageBufferOffsetAlignment,
    });
    const kvBuffer = gpu.device.createBuffer({ size: arenaBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label: 'kv-arena' });
    parts.unshift({ destroy: () => kvBuffer.destroy() });
    const runnerFor = async (model: OpenedModel, format: WeightFormat, which: 'generator' | 'verifier') => {
      const region = arena.region(which);
      const runner = await createWebGpuRunner(gpu, model.source, {
        weightFormat: format, numPages: region.numPages, pageSize: PAGE_SIZE, maxBatchTokens: MAX_BATCH_TOKENS,
        kv: { buffer: kvBuffer, offsetBytes: region.offsetBytes, numPages: region.numPages },
        onProgress: prefixed(which, onProgress),
      });
      parts.unshift({ destroy: () => runner.dispose() });
      return runner;
    };
    const generator = await runnerFor(generatorModel, gFormat, 'generator');
    const verifier = await runnerFor(verifierModel, vFormat, 'verifier');
    onProgress({ model: 'verifier', phase: 'done', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });

    const tokenizer = generatorModel.tokenizer!;
    const loaded: LoadedModels = {
      gpu, generator, verifier, generatorModel, verifierModel, tokenizer, verifierTokenizer: verifierModel.tokenizer ?? tokenizer,
      arena, mode, livePages: { generator: 0, verifier: 0 },
    };
    const describe = (m: OpenedModel, f: WeightFormat) => `${m.name} (${m.config.numLayers} layers, hidden ${m.config.hiddenSize}, ${f})`;
    return {
      info: { adapter: describeGpu(gpu), generator: describe(generatorModel, gFormat), verifier: describe(verifierModel, vFormat), memoryMB },
      solve: (problem, solveOptions, signal, onEvent) => solveWithSearch(loaded, problem, solveOptions, signal, onEvent),
      generate: (prompt, generateOptions, signal, onText) => generateText(loaded, prompt, generateOptions, signal, onText),
      kvPagesInUse: () => ({ ...loaded.livePages }),
      dispose() {
        for (const part of parts) part.destroy();
        parts.length = 0;
      },
    };
  } catch (error) {
    for (const part of parts) part.destroy();
    throw error;
  }
}

/** Plain sampling from the generator: prefill the prompt, then one token per forward call. */
async function generateText(m: LoadedModels, prompt: string, options: GenerateOptions, signal: AbortSignal | undefined, onText?: (delta: string) => void): Promise<GenerateResult> {
  const t0 = performance.now();
  const sampling = validateSampling({ temperature: options.temperature ?? 0, topK: options.topK ?? 0, topP: options.topP ?? 1, seed: options.seed ?? 0 });
  const maxTokens = options.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new OptionError(`maxTokens must be a positive integer, got ${maxTokens}`);
  const text = options.chat ? m.tokenizer.applyChatTemplate([{ role: 'user', content: prompt }], { addGenerationPrompt: true }) : prompt;
  const promptTokens = m.tokenizer.encode(text);
  const limit = m.generator.config.maxPositions;
  if (promptTokens.length + maxTokens > limit) throw new PromptTooLongError(promptTokens.length + maxTokens, limit);
  const runner = m.generator;
  const region = m.arena.region('generator');
  // Own pages for the duration of the call, freed whatever happens.
  const sequence = new SequencePages(new PageAllocator(region.numPages, runner.pageSize));
  const out: number[] = [];
  let emitted = '';
  try {
    let next = promptTokens;
    for (let i = 0; i < maxTokens; i++) {
      if (signal?.aborted) throw new CancelledError();
      m.gpu.assertAlive();
      const blockTable = sequence.reserve(next.length);
      m.livePages.generator = blockTable.length;
      const r = await runner.forward({ chunks: [{ blockTable, start: sequence.length, tokens: next, outputRows: [next.length - 1] }] });
      sequence.length += next.length;
      const token = sampleToken(r.logits!, 0, runner.config.vocabSize, sampling, ROOT_LINEAGE, sequence.length);
      if (m.tokenizer.isEos(token)) break;
      out.push(token);
      const decoded = m.tokenizer.decode(out);
      if (!decoded.endsWith('\uFFFD')) {
        onText?.(decoded.slice(emitted.length));
        emitted = decoded;
      }
      next = [token];
    }
    return { text: m.tokenizer.decode(out), tokens: out, ms: performance.now() - t0 };
  } finally {
    sequence.release();
    m.livePages.generator = 0;
  }
}
