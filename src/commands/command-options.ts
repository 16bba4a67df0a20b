// The command-line options of `solve`, `eval` and `bench` as parsed values, and what they turn into:
// search options, the model environment, and the speculation budget measured on the device.
import { OptionError } from '../errors.ts';
import { parseAggregation } from '../search/beam.ts';
import { parseSelectionRule } from '../search/answer.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions, type SearchMethod, type SearchMode, type SearchOptions } from '../search/context.ts';
import { calibrateDecode } from '../search/calibration.ts';
import { wallClock } from '../metrics/trace.ts';
import type { GpuContext } from '../gpu/device.ts';
import { openSearchModels, pagesForBytes, WEBGPU_MAX_BATCH_TOKENS, type SearchModels } from './search-env.ts';

export const DEFAULT_GENERATOR = 'models/arith-generator';
export const DEFAULT_VERIFIER = 'models/arith-prm';

export interface SearchCommandOptions {
  generator?: string;
  verifier?: string;
  method?: string;
  n?: number;
  beamWidth?: number;
  iterations?: number;
  agg?: string;
  select?: string;
  mode?: string;
  /** KV memory for both pools, MB (default 256). */
  memoryMb?: number;
  seed?: number;
  /** 'webgpu' (default when `gpu` is given) or 'cpu' (the reference runner). */
  backend?: 'webgpu' | 'cpu';
  gpu?: GpuContext;
  maxStepTokens?: number;
}

const METHODS: SearchMethod[] = ['greedy', 'majority', 'best-of-n', 'beam', 'dvts'];

export function searchOptionsFrom(o: SearchCommandOptions, speculationBatch: number): SearchOptions {
  const method = (o.method ?? 'beam') as SearchMethod;
  if (!METHODS.includes(method)) throw new OptionError(`--method must be one of ${METHODS.join(', ')}, got "${o.method}"`);
  const mode = (o.mode ?? 'fasttts') as SearchMode;
  if (mode !== 'fasttts' && mode !== 'baseline') throw new OptionError(`--mode must be fasttts or baseline, got "${o.mode}"`);
  return defaultSearchOptions({
    method, n: o.n ?? 8, beamWidth: o.beamWidth ?? 4, iterations: o.iterations ?? 10,
    agg: parseAggregation(o.agg ?? 'last'), select: parseSelectionRule(o.select ?? 'weighted'),
    techniques: mode === 'fasttts' ? FASTTTS_TECHNIQUES : BASELINE_TECHNIQUES, speculationBatch,
    sampling: { temperature: 0.8, topK: 0, topP: 1, seed: o.seed ?? 0 }, maxStepTokens: o.maxStepTokens ?? 2048,
  });
}

/** Opens the models with KV pools splitting --memory-mb evenly, and measures the speculation budget. */
export async function openCommandModels(o: SearchCommandOptions, needsVerifier: boolean): Promise<{ models: SearchModels; speculationBatch: number }> {
  const backend = o.backend ?? (o.gpu ? 'webgpu' : 'cpu');
  if (backend === 'webgpu' && !o.gpu) throw new OptionError('the webgpu backend needs a GPU context');
  const memory = (o.memoryMb ?? 256) * 2 ** 20;
  if (!(memory > 0)) throw new OptionError(`--memory-mb must be positive, got ${o.memoryMb}`);
  // The KV memory split evenly between the two models' pools (the baseline's static split).
  const models = await openSearchModels({
    generator: o.generator ?? DEFAULT_GENERATOR, verifier: needsVerifier ? o.verifier ?? DEFAULT_VERIFIER : undefined, backend, gpu: o.gpu,
    generatorPages: pagesForBytes(needsVerifier ? memory / 2 : memory), verifierPages: pagesForBytes(memory / 2),
  });
  const gPages = models.generator.numPages;
  const key = `${o.gpu?.route ?? 'cpu-reference'}|${o.gpu?.adapterInfo.description ?? ''}|${o.generator ?? DEFAULT_GENERATOR}`;
  const cal = await calibrateDecode(models.generator, wallClock, { key, maxBatchTokens: backend === 'webgpu' ? WEBGPU_MAX_BATCH_TOKENS : undefined, maxBatch: Math.min(backend === 'cpu' ? 8 : 64, Math.floor(gPages / 2)), context: 16 });
  return { models, speculationBatch: cal.nearlyFreeBatch };
}
