// Memory benchmark measured on this device with the bundled models: the product's beam search
// (search/search.ts, as the API's solve() runs it) over one GPU KV arena shared by the two WebGPU
// runners, under a small KV budget that forces eviction, preemption and recompute. The memory planner
// (search/arena-planner.ts, on a profile fitted to the decode calibration taken here, as the API does)
// re-splits the arena every iteration; it runs side by side with a static 50/50 split. The other
// FastTTS techniques stay off in both, so the split is the only difference. Times are wall-clock.
import { promptFormatFor } from '../search/prompt-format.ts';
import { createGpu, describeGpu, type GpuContext } from '../gpu/device.ts';
import { shapeFromConfig } from '../metrics/cost-model.ts';
import type { HardwareProfile } from '../metrics/hardware-profiles.ts';
import { TraceRecorder, wallClock } from '../metrics/trace.ts';
import { openModel } from '../model/open-model.ts';
import { createGpuKvArena } from '../runtime/gpu-arena.ts';
import { KvArena } from '../runtime/kv-arena.ts';
import { MAX_BATCH_TOKENS } from '../runtime/forward-batch.ts';
import { createWebGpuRunner, type WebGpuRunner } from '../runtime/webgpu-runner.ts';
import { arenaPlanner, profileFromCalibration } from '../search/arena-planner.ts';
import { calibrateDecode, DECODE_CALIBRATION_CONTEXT } from '../search/calibration.ts';
import { BASELINE_TECHNIQUES, defaultSearchOptions, type SearchEnv } from '../search/context.ts';
import { formatPlannerEntry } from '../search/memory-planner.ts';
import { DEFAULT_KV_DTYPE, kvBytesPerElement, type KvDtype } from '../gpu/kv-dtype.ts';
import { arenaSearchPools } from '../search/search-kv.ts';
import { runSearch } from '../search/search.ts';
import { memoryBenchTable, type MemoryBenchFields } from './bench-memory.ts';
import { DEFAULT_GENERATOR, DEFAULT_VERIFIER } from './default-models.ts';

export interface MeasuredMemoryBenchOptions {
  /** Beam counts (default 8, 16). */
  ns?: number[];
  /** KV arena budget, MiB (default 8: about 100 pages per model of the bundled models). */
  kvBudgetMiB?: number;
  beamWidth?: number;
  iterations?: number;
  seed?: number;
  onPlannerLog?: (line: string) => void;
  /** Runs per (n, split); the fastest is reported (wall-clock noise on a shared machine). Default 1. */
  repeats?: number;
  /** Check the arena's bookkeeping invariants after every iteration (tests). */
  checkInvariants?: boolean;
  /** K/V storage (default f16, the engine's). */
  kvDtype?: KvDtype;
}

export interface MeasuredMemoryRow extends MemoryBenchFields {
  source: 'measured';
  route: string;
  copyOnWriteCopies: number;
  relocatedPages: number;
}

const PAGE_SIZE = 16;
const PROBLEMS = ['Compute 15 * 5 + 8 + 5.', 'Compute 27 + 38 * 2 - 9.', 'Compute 6 * 7 - 13 + 4.'];

interface Loaded {
  gpu: GpuContext;
  ga: ReturnType<typeof createGpuKvArena>;
  gen: WebGpuRunner;
  ver: WebGpuRunner;
  format: ReturnType<typeof promptFormatFor>;
  codec: NonNullable<Awaited<ReturnType<typeof openModel>>['tokenizer']>;
  shapes: { generator: ReturnType<typeof shapeFromConfig>; verifier: ReturnType<typeof shapeFromConfig> };
}

/** One search on a fresh arena bookkeeping over the shared GPU buffer; returns the row's fields. */
async function searchWorkload(
  m: Loaded,
  n: number,
  split: 'planner' | 'static-50/50',
  profile: HardwareProfile | null,
  o: MeasuredMemoryBenchOptions,
  seed: number,
) {
  const arena = new KvArena(m.ga.layout.arenaOptions);
  arena.generator.attach(m.gen);
  arena.verifier.attach(m.ver);
  const pools = arenaSearchPools(arena);
  const trace = new TraceRecorder();
  const env: SearchEnv = {
    generator: m.gen,
    verifier: m.ver,
    codec: m.codec,
    format: m.format,
    clock: wallClock,
    ...pools,
    trace,
    maxBatchTokens: MAX_BATCH_TOKENS,
  };
  const memory =
    split === 'planner' && profile
      ? arenaPlanner(arena, {
          profile,
          shapes: m.shapes,
          maxBatchTokens: MAX_BATCH_TOKENS,
          allowOffload: false,
          // The arena here is smaller than the margin the engine keeps for its longest beam: the planner's own choice.
          holdLongestBeams: false,
          onLog: o.onPlannerLog ? (e) => o.onPlannerLog!(formatPlannerEntry(e)) : undefined,
        })
      : null;
  const pages = { g: 0, v: 0, plans: 0 };
  const result = await runSearch(
    env,
    defaultSearchOptions({
      method: 'beam',
      n,
      beamWidth: o.beamWidth ?? 4,
      iterations: o.iterations ?? 4,
      techniques: { ...BASELINE_TECHNIQUES, memoryPlanner: memory !== null },
      speculationBatch: 0,
      sampling: { temperature: 1, topK: 0, topP: 1, seed },
      planMemory: memory?.planMemory,
      onIteration: (iteration, _beams, _required, ms) => {
        memory?.planner.observe(ms, iteration);
        pages.g += arena.generator.capacityPages;
        pages.v += arena.verifier.capacityPages;
        pages.plans++;
        if (o.checkInvariants) {
          arena.generator.checkInvariants();
          arena.verifier.checkInvariants();
        }
      },
    }),
    PROBLEMS[seed % PROBLEMS.length],
  );
  const g = arena.generator.stats();
  const v = arena.verifier.stats();
  const hit = g.prefixHitTokens + v.prefixHitTokens;
  const computed = trace.entries.reduce((a, e) => a + e.newTokens, 0);
  return {
    latencyMs: result.latencyMs,
    generatorMs: result.counters.generatorMs,
    verifierMs: result.counters.verifierMs,
    // Tokens found in cached pages, over those plus the tokens run through the models.
    prefixHitRate: hit / Math.max(1, hit + computed),
    prefixHitTokens: hit,
    recomputedTokens: g.recomputedTokens + v.recomputedTokens,
    preemptions: g.preemptions + v.preemptions,
    evictions: g.evictions + v.evictions,
    copyOnWriteCopies: g.copyOnWriteCopies + v.copyOnWriteCopies,
    relocatedPages: g.relocatedPages + v.relocatedPages,
    meanGeneratorPages: pages.g / Math.max(1, pages.plans),
    meanVerifierPages: pages.v / Math.max(1, pages.plans),
  };
}

/** Runs the search for each n with the static split and with the planner, on the bundled models. */
export async function benchMemoryMeasured(o: MeasuredMemoryBenchOptions = {}, gpuIn?: GpuContext): Promise<MeasuredMemoryRow[]> {
  const gpu = gpuIn ?? (await createGpu());
  const [gModel, vModel] = [await openModel(DEFAULT_GENERATOR), await openModel(DEFAULT_VERIFIER)];
  const kvDtype = o.kvDtype ?? DEFAULT_KV_DTYPE;
  const ga = createGpuKvArena(gpu, {
    totalBytes: (o.kvBudgetMiB ?? 8) * 2 ** 20,
    pageSize: PAGE_SIZE,
    kvDtype,
    generator: gModel.config,
    verifier: vModel.config,
  });
  const runners: WebGpuRunner[] = [];
  try {
    const open = async (model: typeof gModel, which: 'generator' | 'verifier') => {
      const r = await createWebGpuRunner(gpu, model.source, {
        weightFormat: 'f32',
        numPages: 0,
        pageSize: PAGE_SIZE,
        kvDtype,
        maxBatchTokens: MAX_BATCH_TOKENS,
        kv: ga.region(which),
      });
      runners.push(r);
      return r;
    };
    const gen = await open(gModel, 'generator');
    const ver = await open(vModel, 'verifier');
    const tokenizer = gModel.tokenizer!;
    const m: Loaded = {
      gpu,
      ga,
      gen,
      ver,
      codec: tokenizer,
      format: promptFormatFor(tokenizer, vModel.tokenizer ?? tokenizer, vModel.config),
      shapes: {
        generator: shapeFromConfig(gModel.config, { weightFormat: 'f32', kvBytesPerElement: kvBytesPerElement(kvDtype) }),
        verifier: shapeFromConfig(vModel.config, { weightFormat: 'f32', kvBytesPerElement: kvBytesPerElement(kvDtype) }),
      },
    };
    // The planner's profile: the API's decode calibration on this device, before any search holds pages.
    const cal = await calibrateDecode(gen, wallClock, { maxBatch: 16, context: DECODE_CALIBRATION_CONTEXT, maxBatchTokens: MAX_BATCH_TOKENS });
    const profile = profileFromCalibration(m.shapes.generator, cal, DECODE_CALIBRATION_CONTEXT);
    const route = describeGpu(gpu);
    const rows: MeasuredMemoryRow[] = [];
    for (const n of o.ns ?? [8, 16]) {
      for (const split of ['static-50/50', 'planner'] as const) {
        let best: Awaited<ReturnType<typeof searchWorkload>> | null = null;
        for (let rep = 0; rep < (o.repeats ?? 1); rep++) {
          const r = await searchWorkload(m, n, split, profile, o, o.seed ?? 1);
          if (!best || r.latencyMs < best.latencyMs) best = r;
        }
        rows.push({ source: 'measured', route, n, split, ...best! });
      }
    }
    return rows;
  } finally {
    for (const r of runners) r.dispose();
    ga.destroy();
    if (!gpuIn) gpu.destroy();
  }
}

export function formatMeasuredMemoryBench(rows: MeasuredMemoryRow[], kvBudgetMiB = 8): string {
  const head = `KV memory benchmark, measured on this device (${rows[0]?.route ?? '?'}), bundled models, KV budget ${kvBudgetMiB} MiB, the engine's beam search over the KV arena`;
  return memoryBenchTable(head, rows, {
    cols: ['recomputed tok', 'preempt', 'evict', 'cow', 'relocated'],
    cells: (r) => [r.recomputedTokens, r.preemptions, r.evictions, r.copyOnWriteCopies, r.relocatedPages],
  });
}
