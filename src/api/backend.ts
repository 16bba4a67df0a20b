// The engine's working parts behind the API: the route (WebGPU, or the CPU route's WebAssembly kernels:
// runtime/route.ts), the two models loaded onto it (weights streamed and quantized tensor by tensor),
// one KV arena (runtime/gpu-arena.ts or wasm-arena.ts) whose two pools the search uses and whose split
// the memory planner moves in FastTTS mode, and the search.
// Runs in the web worker, or in-process in Node; engine-core.ts queues calls into it.
import { OptionError, OutOfMemoryError, PromptTooLongError } from '../errors.ts';
import { inNode } from '../platform.ts';
import { expectedTensors, kvBytesPerToken, type Qwen2Config } from '../model/config.ts';
import { openModel, type OpenedModel } from '../model/open-model.ts';
import { activationBytes, shapeFromConfig, weightBytes } from '../metrics/cost-model.ts';
import { isQuantized, WEIGHT_FORMATS, type WeightFormat } from '../gpu/quant.ts';
import type { ModelSource } from '../model/source.ts';
import { checkKvDtype, DEFAULT_KV_DTYPE, kvBytesPerElement } from '../gpu/kv-dtype.ts';
import { generate } from '../runtime/generate.ts';
import { validateSampling } from '../runtime/sampler.ts';
import { createGpuKvArena } from '../runtime/gpu-arena.ts';
import { createWasmKvArena } from '../runtime/wasm-arena.ts';
import { closeRoute, createRouteRunner, openRoute } from '../runtime/route.ts';
import { promptFormatFor } from '../search/prompt-format.ts';
import { arenaSearchPools } from '../search/search-kv.ts';
import { solveWithSearch } from './solve-search.ts';
import { onPages, type LoadedModels } from './loaded-models.ts';
import { MAX_BATCH_TOKENS } from '../runtime/forward-batch.ts';
import type {
  EngineEvent,
  EngineInfo,
  EngineOptions,
  GenerateOptions,
  GenerateResult,
  LoadProgress,
  ModelLocation,
  SolveOptions,
  SolveResult,
} from './types.ts';

const MiB = 1024 * 1024;
/** Default total GPU memory budget. */
export const DEFAULT_MEMORY_MB = 512;
/** Models at or below this many parameters keep f32 weights (exact); larger ones are quantized to 4 bits. */
const F32_PARAMETER_LIMIT = 50e6;
/** Tokens per KV page unless the engine is told otherwise. */
export const DEFAULT_KV_PAGE_SIZE = 16;
const MAX_KV_PAGE_SIZE = 256;
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

/** The small models shipped with the package (models/arith-generator, models/arith-prm). */
function bundledLocation(which: 'generator' | 'verifier'): string {
  const dir = which === 'generator' ? 'arith-generator' : 'arith-prm';
  // Not `new URL(literal, import.meta.url)`: bundlers would try to resolve the directory as an asset.
  const here = import.meta.url;
  const url = new URL(`../../models/${dir}/`, here);
  return url.protocol === 'file:' ? decodeURIComponent(url.pathname) : url.href;
}

function resolveLocation(location: ModelLocation | undefined, which: 'generator' | 'verifier'): Exclude<ModelLocation, 'bundled'> {
  if (location === undefined || location === 'bundled') return bundledLocation(which);
  return location;
}

function parameterCount(c: Qwen2Config): number {
  let total = 0;
  for (const shape of expectedTensors(c).values()) total += shape.reduce((x, y) => x * y, 1);
  return total;
}

/**
 * The weight format the engine runs a model in: the file's own q8/q4 as they are; for small models the
 * file's 16-bit floats as they are, else f32; for the rest 4-bit.
 */
export function weightFormatFor(source: ModelSource): WeightFormat {
  const stored = source.storedFormat;
  if (stored && isQuantized(stored)) return stored;
  if (parameterCount(source.config) > F32_PARAMETER_LIMIT) return 'q4';
  return stored === 'f16' || stored === 'bf16' ? stored : 'f32';
}

/** Weights plus activation buffers of one runner, as the cost model counts them. */
function fixedBytes(c: Qwen2Config, format: WeightFormat): number {
  const shape = shapeFromConfig(c, { weightFormat: format });
  return weightBytes(shape) + activationBytes(shape, MAX_BATCH_TOKENS);
}

function prefixed(model: LoadProgress['model'], onProgress: (p: LoadProgress) => void) {
  return (p: Omit<LoadProgress, 'model'>) => onProgress({ model, ...p });
}

export async function loadBackend(options: Omit<EngineOptions, 'onProgress'>, onProgress: (p: LoadProgress) => void): Promise<Backend> {
  const memoryMB = options.memoryMB ?? DEFAULT_MEMORY_MB;
  if (!(memoryMB > 0) || !Number.isFinite(memoryMB)) throw new OptionError(`memoryMB must be a positive number, got ${memoryMB}`);
  const pageSize = options.kvPageSize ?? DEFAULT_KV_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_KV_PAGE_SIZE)
    throw new OptionError(`kvPageSize must be an integer in 1..${MAX_KV_PAGE_SIZE}, got ${pageSize}`);
  const kvDtype = checkKvDtype(options.kvDtype ?? DEFAULT_KV_DTYPE);
  const weights = options.weights ?? 'auto';
  if (weights !== 'auto' && !WEIGHT_FORMATS.includes(weights))
    throw new OptionError(`weights must be "auto" or one of ${WEIGHT_FORMATS.join(', ')}, got ${JSON.stringify(String(weights))}`);
  const mode = options.mode ?? 'fasttts';
  if (mode !== 'fasttts' && mode !== 'baseline') throw new OptionError(`mode must be "fasttts" or "baseline", got "${String(mode)}"`);

  // In a browser (the engine's web worker included) downloaded model files go to the model cache, for offline use.
  const cache = typeof caches !== 'undefined' && !inNode();
  const generatorModel = await openModel(resolveLocation(options.generator, 'generator'), { cache, onProgress: prefixed('generator', onProgress) });
  const verifierModel = await openModel(resolveLocation(options.verifier, 'verifier'), { cache, onProgress: prefixed('verifier', onProgress) });
  if (generatorModel.config.kind !== 'causal-lm') throw new OptionError(`${generatorModel.name} is not a generator (causal LM) model`);
  if (verifierModel.config.kind === 'causal-lm') throw new OptionError(`${verifierModel.name} is not a process reward model`);

  // The budget: weights and activations of both models first, the KV arena gets the rest.
  const gFormat = weights === 'auto' ? weightFormatFor(generatorModel.source) : weights;
  const vFormat = weights === 'auto' ? weightFormatFor(verifierModel.source) : weights;
  const fixed = fixedBytes(generatorModel.config, gFormat) + fixedBytes(verifierModel.config, vFormat);
  const gPageBytes = pageSize * kvBytesPerToken(generatorModel.config, kvBytesPerElement(kvDtype));
  const vPageBytes = pageSize * kvBytesPerToken(verifierModel.config, kvBytesPerElement(kvDtype));
  const minKv = (MIN_KV_TOKENS / pageSize) * (gPageBytes + vPageBytes);
  const kvBytes = memoryMB * MiB - fixed;
  if (kvBytes < minKv) {
    throw new OutOfMemoryError(
      `a budget of ${memoryMB} MiB leaves ${Math.max(0, kvBytes / MiB).toFixed(1)} MiB for the KV cache after ${(fixed / MiB).toFixed(1)} MiB of weights and activations; at least ${Math.ceil((fixed + minKv) / MiB)} MiB are needed`,
    );
  }

  const route = await openRoute(options.route ?? 'auto', { threads: options.threads });
  const parts: { destroy(): void }[] = [{ destroy: () => closeRoute(route) }];
  try {
    // Static 50/50 split by bytes to start with; FastTTS mode re-splits between iterations (solve-search.ts).
    const arenaOptions = { totalBytes: kvBytes, pageSize, kvDtype, generator: generatorModel.config, verifier: verifierModel.config };
    const kv = route.kind === 'webgpu' ? createGpuKvArena(route.gpu, arenaOptions) : createWasmKvArena(route.kernels, arenaOptions);
    parts.unshift(kv);
    const runnerFor = async (model: OpenedModel, format: WeightFormat, which: 'generator' | 'verifier') => {
      const region = kv.region(which);
      const runner = await createRouteRunner(route, model.source, {
        weightFormat: format,
        numPages: region.numPages,
        pageSize,
        kvDtype,
        maxBatchTokens: MAX_BATCH_TOKENS,
        kv: region,
        onProgress: prefixed(which, onProgress),
      });
      parts.unshift({ destroy: () => runner.dispose() });
      // The pool's copy-on-write and relocation copies run on its runner.
      kv.arena.pool(which).attach(runner);
      onProgress({ model: which, phase: 'done', bytesDone: 0, bytesTotal: 0, tensorsDone: 0, tensorsTotal: 0 });
      return runner;
    };
    const generator = await runnerFor(generatorModel, gFormat, 'generator');
    const verifier = await runnerFor(verifierModel, vFormat, 'verifier');

    const tokenizer = generatorModel.tokenizer!;
    const verifierTokenizer = verifierModel.tokenizer ?? tokenizer;
    const loaded: LoadedModels = {
      assertAlive: route.kind === 'webgpu' ? () => route.gpu.assertAlive() : () => {},
      generator,
      verifier,
      generatorModel,
      verifierModel,
      tokenizer,
      verifierTokenizer,
      kv,
      mode,
      memoryMB,
      shapes: {
        generator: shapeFromConfig(generatorModel.config, { weightFormat: gFormat, kvBytesPerElement: kvBytesPerElement(kvDtype) }),
        verifier: shapeFromConfig(verifierModel.config, { weightFormat: vFormat, kvBytesPerElement: kvBytesPerElement(kvDtype) }),
      },
      format: promptFormatFor(tokenizer, verifierTokenizer, verifierModel.config),
      speculationBatch: null,
      plannerProfile: null,
      livePages: { generator: 0, verifier: 0 },
      pools: arenaSearchPools(kv.arena),
    };
    const describe = (m: OpenedModel, f: WeightFormat) => `${m.name} (${m.config.numLayers} layers, hidden ${m.config.hiddenSize}, ${f})`;
    return {
      info: {
        adapter: route.describe,
        route: route.kind,
        generator: describe(generatorModel, gFormat),
        verifier: describe(verifierModel, vFormat),
        memoryMB,
        kvPageSize: pageSize,
        kvDtype,
      },
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

/** Plain sampling from the generator (runtime/generate.ts), streaming the text as it grows. */
async function generateText(
  m: LoadedModels,
  prompt: string,
  options: GenerateOptions,
  signal: AbortSignal | undefined,
  onText?: (delta: string) => void,
): Promise<GenerateResult> {
  const t0 = performance.now();
  const sampling = validateSampling({ temperature: options.temperature ?? 0, topK: options.topK ?? 0, topP: options.topP ?? 1, seed: options.seed ?? 0 });
  const maxTokens = options.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new OptionError(`maxTokens must be a positive integer, got ${maxTokens}`);
  const text = options.chat ? m.tokenizer.applyChatTemplate([{ role: 'user', content: prompt }], { addGenerationPrompt: true }) : prompt;
  const promptTokens = m.tokenizer.encode(text);
  const limit = m.generator.config.maxPositions;
  if (promptTokens.length + maxTokens > limit) throw new PromptTooLongError(promptTokens.length + maxTokens, limit);
  // A FastTTS search that stopped in offload mode (cancelled) left a pool's K/V in host memory: bring it back.
  if (m.kv.arena.offloading) await m.kv.arena.setSplit(m.kv.arena.evenGeneratorPages);
  // Pages come from the search's generator pool, so cached prefixes of earlier solves are never overwritten.
  const pool = m.pools.generatorPool;
  const seq = pool.newSeq();
  if (!pool.reserve(seq, promptTokens.length + maxTokens)) {
    pool.release(seq);
    throw new OutOfMemoryError(`the KV cache cannot hold ${promptTokens.length + maxTokens} tokens under a ${m.memoryMB} MiB budget`);
  }
  m.livePages.generator = seq.pages.length;
  const tokens: number[] = [];
  let emitted = '';
  try {
    const result = await generate(onPages(m.generator, seq.pages), [{ prompt: promptTokens, maxTokens }], {
      sampling,
      eosTokenIds: m.tokenizer.eosTokenIds,
      maxBatchTokens: MAX_BATCH_TOKENS,
      signal,
      onToken: (_, token) => {
        if (m.tokenizer.isEos(token)) return;
        tokens.push(token);
        const decoded = m.tokenizer.decode(tokens);
        if (onText && !decoded.endsWith('\uFFFD')) {
          onText(decoded.slice(emitted.length));
          emitted = decoded;
        }
      },
    });
    const out = result.tokens[0].filter((t) => !m.tokenizer.isEos(t));
    return { text: m.tokenizer.decode(out), tokens: out, ms: performance.now() - t0 };
  } finally {
    pool.release(seq);
    m.livePages.generator = 0;
  }
}
