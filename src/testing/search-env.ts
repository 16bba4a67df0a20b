// Builds the search environment over real models for `solve`, `eval` and `bench`: opens the generator
// and verifier (Hugging Face directories, GGUF files, URLs), creates their runners (WebGPU, or the CPU
// reference runner), and hands out a fresh SearchEnv (new KV pools over the runners' pages) per problem.
import { openModel, type ModelLocation } from '../model/open-model.ts';
import type { WeightFormat } from '../gpu/quant.ts';
import type { KvDtype } from '../gpu/kv-dtype.ts';
import type { Qwen2Config } from '../model/config.ts';
import type { ModelRunner } from '../runtime/types.ts';
import { MAX_BATCH_TOKENS } from '../runtime/forward-batch.ts';
import { CpuReferenceRunner } from '../runtime/cpu-reference.ts';
import { createWebGpuRunner } from '../runtime/webgpu-runner.ts';
import { createWasmRunner } from '../runtime/wasm-runner.ts';
import type { GpuContext } from '../gpu/device.ts';
import { FormatError } from '../errors.ts';
import { SearchKvPool } from '../search/search-kv.ts';
import { promptFormatFor } from '../search/prompt-format.ts';
import type { SearchEnv } from '../search/context.ts';
import { wallClock, TraceRecorder } from '../metrics/trace.ts';

export interface SearchModelsOptions {
  generator: ModelLocation;
  verifier?: ModelLocation;
  /** 'webgpu' needs `gpu`; 'wasm' runs the CPU route's WebAssembly runner; 'reference' the plain TypeScript reference runner. */
  backend: 'webgpu' | 'wasm' | 'reference';
  gpu?: GpuContext;
  weightFormat?: WeightFormat;
  pageSize?: number;
  /** K/V storage of both runners (default f16, the engine's). */
  kvDtype?: KvDtype;
  /** KV pages per runner, or a function of the model's config (e.g. a byte budget / page bytes). */
  generatorPages: number | ((c: Qwen2Config) => number);
  verifierPages: number | ((c: Qwen2Config) => number);
  trace?: boolean;
}

export interface SearchModels {
  generator: ModelRunner;
  verifier: ModelRunner | undefined;
  /** A fresh environment (empty KV pools, new trace) over the loaded runners. */
  makeEnv(): SearchEnv;
  dispose(): void;
}

export async function openSearchModels(o: SearchModelsOptions): Promise<SearchModels> {
  const pageSize = o.pageSize ?? 16;
  const weightFormat = o.weightFormat ?? 'f32';
  const gen = await openModel(o.generator);
  if (!gen.tokenizer) throw new FormatError(gen.name, 'the generator has no tokenizer');
  const ver = o.verifier !== undefined ? await openModel(o.verifier) : null;
  if (ver && ver.config.kind === 'causal-lm') throw new FormatError(ver.name, `not a process reward model (architecture ${ver.config.architecture})`);
  const make = async (source: typeof gen.source, numPages: number): Promise<ModelRunner> => {
    const options = { weightFormat, numPages, pageSize, kvDtype: o.kvDtype };
    if (o.backend === 'reference') return CpuReferenceRunner.create(source, options);
    return o.backend === 'wasm' ? createWasmRunner(source, options) : createWebGpuRunner(o.gpu!, source, options);
  };
  const pages = (p: number | ((c: Qwen2Config) => number), c: Qwen2Config): number => (typeof p === 'number' ? p : p(c));
  const generator = await make(gen.source, pages(o.generatorPages, gen.config));
  const verifier = ver ? await make(ver.source, pages(o.verifierPages, ver.config)) : undefined;
  const format = promptFormatFor(gen.tokenizer, ver?.tokenizer ?? gen.tokenizer, ver?.config);
  const codec = { encode: (t: string) => gen.tokenizer!.encode(t), decode: (ids: ArrayLike<number>) => gen.tokenizer!.decode(ids) };
  return {
    generator,
    verifier,
    makeEnv: () => ({
      generator,
      verifier,
      codec,
      format,
      clock: wallClock,
      generatorPool: new SearchKvPool(generator.numPages, pageSize),
      verifierPool: new SearchKvPool(verifier?.numPages ?? 1, pageSize),
      trace: o.trace ? new TraceRecorder() : undefined,
      maxBatchTokens: o.backend === 'reference' ? undefined : MAX_BATCH_TOKENS,
    }),
    dispose: () => {
      generator.dispose();
      verifier?.dispose();
    },
  };
}
