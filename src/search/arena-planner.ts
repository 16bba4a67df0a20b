// The memory planner (memory-planner.ts) as the search's per-iteration hook over a KV arena: the
// fastest split by the cost model (or offload mode, when allowed, no split holds both working sets and
// moving the idle model's K/V to host memory is predicted faster), then moved so that each pool holds
// its longest beam; the verifier gets what the generator leaves. The API's solve() and the measured
// memory benchmark both plan with it; the planner's log gets each iteration's time through `observe`.
import type { ModelShape } from '../metrics/cost-model.ts';
import { calibrationSample } from '../metrics/cost-model.ts';
import { measuredProfile, type HardwareProfile } from '../metrics/hardware-profiles.ts';
import type { KvArena } from '../runtime/kv-arena.ts';
import type { DecodeCalibration } from './calibration.ts';
import type { IterationWorkload, SearchOptions } from './context.ts';
import { holdLongestBeams, MemoryPlanner, plannerHook, type PlannerLogEntry } from './memory-planner.ts';

export interface ArenaPlannerOptions {
  profile: HardwareProfile;
  shapes: { generator: ModelShape; verifier: ModelShape };
  maxBatchTokens: number;
  allowOffload: boolean;
  /** Keep the current split, without planning, while it holds both working sets (no split is faster then). */
  keepWhileHeld?: boolean;
  /** Move each choice so that each pool holds its longest beam with room to grow (default true). */
  holdLongestBeams?: boolean;
  onLog?: (e: PlannerLogEntry) => void;
}

export function arenaPlanner(arena: KvArena, o: ArenaPlannerOptions): { planner: MemoryPlanner; planMemory: NonNullable<SearchOptions['planMemory']> } {
  const planner = new MemoryPlanner({
    kvBytes: arena.options.totalBytes,
    profile: o.profile,
    generator: o.shapes.generator,
    verifier: o.shapes.verifier,
    pageSize: arena.pageSize,
    maxBatchTokens: o.maxBatchTokens,
    allowOffload: o.allowOffload,
    verifierPagesFor: (g) => arena.verifierPagesFor(g),
    onLog: o.onLog,
  });
  // Pages a pool needs for this iteration: the beams' distinct tokens, plus room for every beam to grow
  // by twice the longest step seen, plus a partly filled page per beam.
  const need = (distinct: number, w: { beams: number; stepLengths: number[] }) =>
    Math.ceil((distinct + w.beams * 2 * Math.max(64, ...w.stepLengths)) / arena.pageSize) + w.beams;
  const planMemory = plannerHook<IterationWorkload>(planner, {
    // In offload mode both pools span the arena, so the question is the planner's.
    keep: o.keepWhileHeld
      ? (w) => {
          const g = arena.generator.capacityPages,
            v = arena.verifier.capacityPages;
          if (arena.offloading || need(w.distinctGeneratorTokens, w) > g || need(w.distinctVerifierTokens, w) > v) return null;
          return { generatorPages: g, verifierPages: v, offload: false };
        }
      : undefined,
    adjust: o.holdLongestBeams === false ? undefined : (choice, w) => holdLongestBeams(arena, choice, w),
  });
  return { planner, planMemory };
}

/** The device's cost-model profile fitted to a decode calibration's timings (null: too few), for the planner. */
export function profileFromCalibration(shape: ModelShape, cal: DecodeCalibration, context: number): HardwareProfile | null {
  const samples = cal.batches.map((b, i) => calibrationSample(shape, { sequences: b, newTokens: b, contextTokens: b * context }, cal.ms[i]));
  return samples.length >= 2 ? measuredProfile(samples, 'measured on this device (decode calibration)') : null;
}
