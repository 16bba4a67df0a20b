// `fasttts bench`: baseline and FastTTS side by side, (i) measured on this device through whatever
// search environment the caller builds (the real runners and bundled models), and (ii) estimated by the
// cost model: the search runs unchanged on the cost-model runner at Qwen2.5-Math shapes on a hardware
// profile, replaying step-length and score statistics, with each FastTTS technique switched off in turn.
// The cost model runs in two settings (BENCH_SETTINGS): the engine's own (q4 weights, f16 K/V by
// default or f32 with --kv-dtype f32, WGSL on the ordinary ALUs) and the paper's (vLLM: f16 weights, K/V and activations, tensor cores). Findings
// (see the issue 6 report): exact FastTTS gains come from filling the straggler tail with speculation;
// they shrink from n = 64 up because the exact variant needs a speculative sequence per future child
// (4x the paper's R = 0.85 work) within the nearly-free batch, and because a child's step can only
// start when its parent's ends, so a late parent's long child stays on the iteration's critical path.
import { OptionError } from '../errors.ts';
import { DEFAULT_KV_DTYPE, kvBytesPerElement, type KvDtype } from '../gpu/kv-dtype.ts';
import { modelShape, weightBytes, activationBytes, kvBytesPerTokenOf, type KnownModel, type ModelShape, type ShapeOptions } from '../metrics/cost-model.ts';
import { hardwareProfile, withTensorCores } from '../metrics/hardware-profiles.ts';
import { syntheticEnv, CostModelRunner } from '../simulation/cost-model-runner.ts';
import { DEFAULT_STEP_STATISTICS, syntheticProblem, type StepStatistics } from '../simulation/synthetic-model.ts';
import { poolDelta, problemMetrics, preciseGoodputOver, goodputOver, type ProblemMetrics } from '../metrics/goodput.ts';
import { VirtualClock } from '../metrics/trace.ts';
import { MemoryPlanner, holdLongestBeams } from '../search/memory-planner.ts';
import { KvArena } from '../runtime/kv-arena.ts';
import { MAX_BATCH_TOKENS } from '../runtime/forward-batch.ts';
import { runSearch } from '../search/search.ts';
import { calibrateDecode } from '../search/calibration.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions, type SearchEnv, type SearchOptions, type Techniques } from '../search/context.ts';

export const DEFAULT_BENCH_N = [8, 16, 32, 64, 128, 256, 512];

/** Baseline, FastTTS, and FastTTS with one technique off (ablations). */
export const BENCH_MODES: Record<string, Techniques> = {
  baseline: BASELINE_TECHNIQUES,
  fasttts: FASTTTS_TECHNIQUES,
  'fasttts-no-speculation': { ...FASTTTS_TECHNIQUES, speculation: false, lookahead: false },
  'fasttts-no-lookahead': { ...FASTTTS_TECHNIQUES, lookahead: false },
  'fasttts-no-prefix-scheduling': { ...FASTTTS_TECHNIQUES, prefixScheduling: false },
  'fasttts-no-memory-planner': { ...FASTTTS_TECHNIQUES, memoryPlanner: false },
  'fasttts-no-early-verification': { ...FASTTTS_TECHNIQUES, earlyVerification: false },
};

/** Modes that are not exactly equivalent to the baseline, reported apart: the paper's R = 0.85 truncation. */
export const INEXACT_MODES: Record<string, { techniques: Techniques; siblingKeepFraction: number }> = {
  'fasttts-paper-r0.85': { techniques: FASTTTS_TECHNIQUES, siblingKeepFraction: 0.85 },
};

/**
 * How the models are stored and run. 'engine': this engine's default (q4 weights, f16 K/V: two halves
 * per 32-bit word, arithmetic in f32) on the WGSL kernels, which use the ordinary ALUs (engineSetting
 * gives it for either K/V type). 'paper': the FastTTS paper's setting, vLLM with f16
 * weights and f16 K/V, matmuls on the tensor cores (the profile's tensor-core rate).
 */
export interface BenchSetting {
  label: string;
  weightFormat: ShapeOptions['weightFormat'];
  kvBytesPerElement: number;
  activationBytesPerElement: number;
  tensorCores: boolean;
}

export const BENCH_SETTINGS: Record<string, BenchSetting> = {
  engine: engineSetting(DEFAULT_KV_DTYPE),
  paper: {
    label: "f16 weights, K/V and activations, fp16 tensor cores (the paper's vLLM)",
    weightFormat: 'f16',
    kvBytesPerElement: 2,
    activationBytesPerElement: 2,
    tensorCores: true,
  },
};

/** The engine's setting with its K/V stored as `kvDtype`. */
export function engineSetting(kvDtype: KvDtype): BenchSetting {
  return {
    label: `q4 weights, ${kvDtype} K/V, WGSL on the fp32 ALUs`,
    weightFormat: 'q4',
    kvBytesPerElement: kvBytesPerElement(kvDtype),
    activationBytesPerElement: 4,
    tensorCores: false,
  };
}

const PAIRING_MODELS: Record<string, [KnownModel, KnownModel]> = {
  '1.5b+1.5b': ['qwen2.5-math-1.5b', 'skywork-prm-1.5b'],
  '7b+1.5b': ['qwen2.5-math-7b', 'skywork-prm-1.5b'],
};

/** The generator and verifier shapes of a pairing in a setting. */
export function pairingShapes(pairing: string, setting: BenchSetting = BENCH_SETTINGS.engine): { generator: ModelShape; verifier: ModelShape } {
  const m = PAIRING_MODELS[pairing];
  if (!m) throw new OptionError(`unknown pairing "${pairing}" (known: ${Object.keys(PAIRING_MODELS).join(', ')})`);
  const o = { weightFormat: setting.weightFormat, kvBytesPerElement: setting.kvBytesPerElement, activationBytesPerElement: setting.activationBytesPerElement };
  return { generator: modelShape(m[0], o), verifier: modelShape(m[1], o) };
}

/** What a bench row is a row of: where its numbers come from and the case it ran. */
interface BenchCase {
  source: string;
  /** BENCH_SETTINGS key (cost model), or 'measured'. */
  setting: string;
  profile: string;
  pairing: string;
  budget: string;
  n: number;
  mode: string;
}

export interface BenchRow extends Omit<ProblemMetrics, 'beam_completion_ms'>, BenchCase {
  source: 'measured' | 'cost-model';
  problems: number;
  accuracy: number | null;
  speculation_batch: number;
  /** Which step statistics the cost model replayed (StepStatistics.source). */
  statistics?: string;
  /** Measured rows of a non-baseline mode: per-problem comparisons with the baseline run next to it. */
  paired?: PairedComparison;
}

/** One mode against the baseline, problem by problem (each problem ran in both modes back to back). */
export interface PairedComparison {
  /** Median over problems of this mode's latency over the baseline's: robust to one slow outlier. */
  latency_ratio_median: number;
  /** Problems whose answer and completed beam texts equal the baseline's, out of `problems`. */
  same_as_baseline: number;
  problems: number;
}

export interface BenchOptions {
  modes?: string[];
  n?: number[];
  profile?: string;
  /** BENCH_SETTINGS keys; default both. */
  settings?: string[];
  /** K/V storage of the 'engine' setting (default f16, the engine's). */
  kvDtype?: KvDtype;
  pairings?: string[];
  /**
   * Memory budgets: 'full' (90% of the profile's memory), 'tight' (the weights and activations plus
   * TIGHT_KV_BYTES of K/V for both models, whatever the setting), and/or a number of MiB.
   */
  budgets?: Array<'full' | 'tight' | number>;
  problems?: number;
  iterations?: number;
  beamWidth?: number;
  seed?: number;
  stats?: StepStatistics;
  ablations?: boolean;
  /** Calibration slack: speculation fills batches costing at most (1 + slack) x a batch of one. */
  speculationSlack?: number;
  onRow?: (row: BenchRow) => void;
}

export interface RatioRow extends BenchCase {
  precise_goodput_ratio: number;
  goodput_ratio: number;
  latency_reduction: number;
  /** The step statistics replayed (cost model). */
  statistics?: string;
  paired?: PairedComparison;
}

function average(rows: ProblemMetrics[]): Omit<ProblemMetrics, 'beam_completion_ms'> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(rows[0]) as Array<keyof ProblemMetrics>) {
    if (k === 'beam_completion_ms') continue;
    out[k] = rows.reduce((a, r) => a + (r[k] as number), 0) / rows.length;
  }
  out.goodput = goodputOver(rows);
  out.precise_goodput = preciseGoodputOver(rows);
  return out as unknown as Omit<ProblemMetrics, 'beam_completion_ms'>;
}

/** Solves `problems` with one environment per problem (from `makeEnv`) and averages the metrics. */
export async function benchRow(
  makeEnv: () => Promise<SearchEnv> | SearchEnv,
  options: SearchOptions,
  problems: Array<{ problem: string; answer: string | null }>,
  label: Omit<BenchRow, keyof ProblemMetrics | 'problems' | 'accuracy'>,
  isCorrect?: (answer: string | null, reference: string | null) => boolean,
): Promise<BenchRow> {
  const metrics: ProblemMetrics[] = [];
  let correct = 0;
  for (const p of problems) {
    const env = await makeEnv();
    const g0 = env.generatorPool.stats,
      v0 = env.verifierPool.stats;
    const r = await runSearch(env, options, p.problem);
    metrics.push(problemMetrics(r, poolDelta(g0, env.generatorPool.stats), poolDelta(v0, env.verifierPool.stats)));
    if (isCorrect?.(r.answer, p.answer)) correct++;
  }
  const { beam_completion_ms: _, ...avg } = { ...average(metrics), beam_completion_ms: [] };
  return { ...label, ...avg, problems: problems.length, accuracy: isCorrect ? correct / problems.length : null };
}

/** K/V bytes (both models together) of the 'tight' budget: the paper's deliberately small budget. */
export const TIGHT_KV_BYTES = 2 * 2 ** 30;

/** KV pages each model's pool may address under a budget: all the KV bytes, in its own page size. */
function fixedBytes(pair: { generator: ModelShape; verifier: ModelShape }): number {
  return (
    weightBytes(pair.generator) +
    weightBytes(pair.verifier) +
    activationBytes(pair.generator, MAX_BATCH_TOKENS) +
    activationBytes(pair.verifier, MAX_BATCH_TOKENS)
  );
}

function kvPlan(pair: { generator: ModelShape; verifier: ModelShape }, budgetBytes: number, pageSize: number) {
  const fixed = fixedBytes(pair);
  const kvBytes = budgetBytes - fixed;
  if (kvBytes <= 0)
    throw new OptionError(
      `memory budget ${(budgetBytes / 2 ** 20).toFixed(0)} MB does not hold the weights of the ${pair.generator.name} + ${pair.verifier.name} pair`,
    );
  const gPage = pageSize * kvBytesPerTokenOf(pair.generator);
  const vPage = pageSize * kvBytesPerTokenOf(pair.verifier);
  return { kvBytes, gPage, vPage };
}

/** The cost-model half of `bench`: rows for every (pairing, budget, n, mode). */
export async function benchCostModel(o: BenchOptions = {}): Promise<{ rows: BenchRow[]; ratios: RatioRow[]; statistics: string }> {
  const baseProfile = hardwareProfile(o.profile ?? 'rtx4090');
  const nList = o.n ?? DEFAULT_BENCH_N;
  const modes = o.modes ?? (o.ablations === false ? ['baseline', 'fasttts'] : Object.keys(BENCH_MODES));
  for (const m of modes)
    if (!BENCH_MODES[m] && !INEXACT_MODES[m])
      throw new OptionError(`unknown bench mode "${m}" (known: ${[...Object.keys(BENCH_MODES), ...Object.keys(INEXACT_MODES)].join(', ')})`);
  // Names are checked before any work, not when the loop reaches them.
  for (const name of o.settings ?? [])
    if (!BENCH_SETTINGS[name]) throw new OptionError(`unknown bench setting "${name}" (known: ${Object.keys(BENCH_SETTINGS).join(', ')})`);
  for (const name of o.pairings ?? []) pairingShapes(name);
  const stats = o.stats ?? DEFAULT_STEP_STATISTICS;
  const pageSize = 16;
  const problems = Array.from({ length: o.problems ?? 2 }, (_, i) => syntheticProblem(i));
  const rows: BenchRow[] = [];
  for (const settingName of o.settings ?? Object.keys(BENCH_SETTINGS)) {
    const setting = settingName === 'engine' && o.kvDtype ? engineSetting(o.kvDtype) : BENCH_SETTINGS[settingName];
    if (!setting) throw new OptionError(`unknown bench setting "${settingName}" (known: ${Object.keys(BENCH_SETTINGS).join(', ')})`);
    const profile = setting.tensorCores ? withTensorCores(baseProfile) : baseProfile;
    for (const pairing of o.pairings ?? Object.keys(PAIRING_MODELS)) {
      const pair = pairingShapes(pairing, setting);
      for (const budget of o.budgets ?? ['full', 'tight']) {
        const budgetBytes = budget === 'full' ? profile.memoryBytes * 0.9 : budget === 'tight' ? fixedBytes(pair) + TIGHT_KV_BYTES : budget * 2 ** 20;
        const kv = kvPlan(pair, budgetBytes, pageSize);
        const arenaBytes = { totalBytes: kv.kvBytes, generatorPageBytes: kv.gPage, verifierPageBytes: kv.vPage };
        const sizing = new KvArena({ ...arenaBytes, pageSize }); // splits' page counts, for the planner
        // Speculation budget: decode calibration of the generator shape on this profile (virtual clock),
        // over sequences laid out as beams are: a shared prefix (prompt and earlier steps) and a private
        // tail of about one step each (CALIBRATION_CONTEXT).
        const clock = new VirtualClock();
        const probe = new CostModelRunner('causal-lm', 1 << 15, pageSize, pair.generator, profile, clock, stats);
        const cal = await calibrateDecode(probe, clock, { maxBatch: 512, ...CALIBRATION_CONTEXT, slack: o.speculationSlack ?? 0.15 });
        for (const n of nList) {
          for (const mode of modes) {
            const techniques = BENCH_MODES[mode] ?? INEXACT_MODES[mode].techniques;
            // Offload mode (the idle model's K/V in host memory) is the planner's to choose when no split holds both working sets.
            const planner = new MemoryPlanner({
              kvBytes: kv.kvBytes,
              profile,
              generator: pair.generator,
              verifier: pair.verifier,
              pageSize,
              allowOffload: true,
              verifierPagesFor: (g) => sizing.verifierPagesFor(g),
            });
            const options = defaultSearchOptions({
              method: 'beam',
              n,
              beamWidth: o.beamWidth ?? 4,
              iterations: o.iterations ?? 40,
              techniques,
              speculationBatch: cal.nearlyFreeBatch,
              siblingKeepFraction: INEXACT_MODES[mode]?.siblingKeepFraction ?? 0,
              sampling: { temperature: 0.8, topK: 0, topP: 1, seed: o.seed ?? 0 },
              planMemory: (w) => holdLongestBeams(sizing, planner.plan(w), w),
            });
            // One arena for both models, as on the device; it starts at the baseline's static split
            // (and the planner ablation's): half of the KV bytes each.
            const makeEnv = (): SearchEnv =>
              syntheticEnv({ pageSize, stats, cost: { profile, generator: pair.generator, verifier: pair.verifier }, arena: arenaBytes });
            const row = await benchRow(makeEnv, options, problems, {
              source: 'cost-model',
              setting: settingName,
              profile: profile.name,
              pairing,
              budget: budget === 'full' ? `${(budgetBytes / 2 ** 30).toFixed(1)}GiB` : budget === 'tight' ? `kv${TIGHT_KV_BYTES / 2 ** 30}GiB` : `${budget}MiB`,
              n,
              mode,
              speculation_batch: cal.nearlyFreeBatch,
              statistics: stats.source ?? 'unstated',
            });
            rows.push(row);
            o.onRow?.(row);
          }
        }
      }
    }
  }
  return { rows, ratios: ratioTable(rows), statistics: stats.source ?? 'unstated' };
}

/**
 * The decode calibration's sequences: 1024 tokens of context of which all but the last 128 (about one
 * step of DEFAULT_STEP_STATISTICS, mean 110 tokens) are shared, as siblings and speculative beams share
 * everything but their latest step.
 */
export const CALIBRATION_CONTEXT = { context: 1024, sharedContext: 1024 - 128 };

/** Each non-baseline row against the baseline row of the same (source, profile, pairing, budget, n). */
export function ratioTable(rows: readonly BenchRow[]): RatioRow[] {
  // Rows built elsewhere (bench-cli's measured rows) may lack a setting.
  const key = (r: BenchRow): string => [r.source, r.setting ?? 'measured', r.profile, r.pairing, r.budget, r.n].join('|');
  const base = new Map(rows.filter((r) => r.mode === 'baseline').map((r) => [key(r), r]));
  const out: RatioRow[] = [];
  for (const r of rows) {
    const b = base.get(key(r));
    if (!b || r.mode === 'baseline') continue;
    out.push({
      source: r.source,
      setting: r.setting ?? 'measured',
      profile: r.profile,
      pairing: r.pairing,
      budget: r.budget,
      n: r.n,
      mode: r.mode,
      precise_goodput_ratio: r.precise_goodput / b.precise_goodput,
      goodput_ratio: r.goodput / b.goodput,
      latency_reduction: 1 - r.latency_ms / b.latency_ms,
      statistics: r.statistics,
      paired: r.paired,
    });
  }
  return out;
}

/** A fixed-width table of the ratios for the terminal. */
/** The table of ratios; `kvDtype`: the K/V storage the engine setting ran with (its label says which). */
export function formatRatios(ratios: readonly RatioRow[], kvDtype: KvDtype = DEFAULT_KV_DTYPE): string {
  const lines = ['source      setting  profile         pairing    budget     n     mode                           precise_goodput  goodput  latency'];
  for (const r of ratios) {
    lines.push(
      `${r.source.padEnd(11)} ${(r.setting ?? 'measured').padEnd(8)} ${r.profile.padEnd(15)} ${r.pairing.padEnd(10)} ${r.budget.padEnd(10)} ${String(r.n).padEnd(5)} ${r.mode.padEnd(30)} ${r.precise_goodput_ratio.toFixed(2).padStart(6)}x         ${r.goodput_ratio.toFixed(2).padStart(5)}x   ${(-100 * r.latency_reduction).toFixed(0).padStart(4)}%`,
    );
  }
  // Say what the estimates assume: the settings and the step statistics replayed.
  const settingOf = (name: string) => (name === 'engine' ? engineSetting(kvDtype) : BENCH_SETTINGS[name]);
  for (const name of new Set(ratios.map((r) => r.setting))) if (name && BENCH_SETTINGS[name]) lines.push(`setting ${name}: ${settingOf(name).label}`);
  for (const st of new Set(ratios.map((r) => r.statistics))) if (st) lines.push(`step statistics replayed: ${st}`);
  for (const r of ratios) {
    if (!r.paired) continue;
    const p = r.paired;
    lines.push(
      `measured n=${r.n} ${r.mode}: median per-problem latency ratio ${p.latency_ratio_median.toFixed(2)} (${p.problems} problems); ` +
        `same answer and beam texts as the baseline on ${p.same_as_baseline}/${p.problems}`,
    );
  }
  return lines.join('\n');
}
