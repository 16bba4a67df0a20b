// Memory benchmark: beam search on the cost-model runner (synthetic workload replaying recorded step
// statistics, time charged by the roofline cost model) at Qwen2.5-Math-1.5B + Skywork-PRM-1.5B shapes
// on a hardware profile, with a KV budget of 1 GiB by default: the asymmetric planner's split against a
// static 50/50 split, side by side, with prefix-hit rate, recomputed tokens, preemptions and the pages
// each pool got. All times are estimated by the cost model, not measured.
import { modelShape, kvBytesPerTokenOf } from '../metrics/cost-model.ts';
import { hardwareProfile } from '../metrics/hardware-profiles.ts';
import { syntheticEnv } from '../simulation/cost-model-runner.ts';
import { DEFAULT_STEP_STATISTICS, syntheticProblem } from '../simulation/synthetic-model.ts';
import { runSearch } from '../search/search.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions } from '../search/context.ts';
import { MemoryPlanner, plannerHook, formatPlannerEntry, type PlannerWorkload } from '../search/memory-planner.ts';

export interface MemoryBenchOptions {
  /** Beam counts (default 8, 16, 32, 64). */
  ns?: number[];
  /** Problems per (n, split) (default 3). */
  problems?: number;
  /** KV arena budget in MiB (default 1024): the models' weights are not in it. */
  kvBudgetMiB?: number;
  /** Hardware profile name (default rtx4090). */
  profile?: string;
  /** The other techniques: all off (baseline, default) or all on (fasttts). */
  mode?: 'baseline' | 'fasttts';
  beamWidth?: number;
  iterations?: number;
  /** Receives each planner log line. */
  onPlannerLog?: (line: string) => void;
}

/** What both memory benchmarks (cost model here, measured in bench-memory-measured.ts) report per row. */
export interface MemoryBenchFields {
  n: number;
  split: 'planner' | 'static-50/50';
  /** Completion latency per problem, ms. */
  latencyMs: number;
  generatorMs: number;
  verifierMs: number;
  /** Prefix-hit tokens over (prefix-hit + computed) tokens, both models. */
  prefixHitRate: number;
  prefixHitTokens: number;
  recomputedTokens: number;
  preemptions: number;
  evictions: number;
  /** Mean pages each pool was given over the iterations. */
  meanGeneratorPages: number;
  meanVerifierPages: number;
}

export interface MemoryBenchRow extends MemoryBenchFields {
  source: 'cost-model';
  profile: string;
  problems: number;
}

export async function benchMemory(o: MemoryBenchOptions = {}): Promise<MemoryBenchRow[]> {
  const profile = hardwareProfile(o.profile ?? 'rtx4090');
  const generator = modelShape('qwen2.5-math-1.5b');
  const verifier = modelShape('skywork-prm-1.5b');
  const pageSize = 16;
  const kvBytes = (o.kvBudgetMiB ?? 1024) * 2 ** 20;
  const gpb = pageSize * kvBytesPerTokenOf(generator);
  const vpb = pageSize * kvBytesPerTokenOf(verifier);
  const rows: MemoryBenchRow[] = [];
  const problems = o.problems ?? 3;
  for (const n of o.ns ?? [8, 16, 32, 64]) {
    for (const split of ['static-50/50', 'planner'] as const) {
      const sum = { latency: 0, gen: 0, ver: 0, hit: 0, computed: 0, recomputed: 0, preempt: 0, evict: 0, gPages: 0, vPages: 0, plans: 0 };
      for (let i = 0; i < problems; i++) {
        // Each pool can address the whole arena; its capacity (the split) is what the budget allows.
        const env = syntheticEnv({
          generatorPages: Math.floor(kvBytes / gpb),
          verifierPages: Math.floor(kvBytes / vpb),
          pageSize,
          stats: DEFAULT_STEP_STATISTICS,
          cost: { profile, generator, verifier },
          trace: true,
        });
        const half = { g: Math.floor(kvBytes / 2 / gpb), v: Math.floor(kvBytes / 2 / vpb) };
        env.generatorPool.setCapacity(half.g);
        env.verifierPool.setCapacity(half.v);
        const { problem } = syntheticProblem(i);
        const planner = new MemoryPlanner({
          kvBytes,
          profile,
          generator,
          verifier,
          pageSize,
          allowOffload: false,
          onLog: o.onPlannerLog ? (e) => o.onPlannerLog!(formatPlannerEntry(e)) : undefined,
        });
        const hook = plannerHook(planner);
        const base = o.mode === 'fasttts' ? FASTTTS_TECHNIQUES : BASELINE_TECHNIQUES;
        const result = await runSearch(
          env,
          defaultSearchOptions({
            method: 'beam',
            n,
            beamWidth: o.beamWidth ?? 4,
            iterations: o.iterations ?? 10,
            techniques: { ...base, memoryPlanner: split === 'planner' },
            speculationBatch: o.mode === 'fasttts' ? n : 0,
            sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 100 + i },
            onIteration: (iteration, _beams, _required, ms) => planner.observe(ms, iteration),
            planMemory: (searchWorkload) => {
              // The pools know how many distinct tokens the beams hold (siblings share their prefixes).
              const w: PlannerWorkload & { iteration?: number } = searchWorkload;
              const longestStep = Math.max(...w.stepLengths);
              return hook({
                ...w,
                distinctGeneratorTokens: w.distinctGeneratorTokens ?? env.generatorPool.pagesReferenced * pageSize,
                distinctVerifierTokens: w.distinctVerifierTokens ?? env.verifierPool.pagesReferenced * pageSize,
                // Without the search's exact longest beam, a margin: twice the mean context plus the longest step.
                longestGeneratorTokens: w.longestGeneratorTokens ?? 2 * w.generatorContext + longestStep,
                longestVerifierTokens: w.longestVerifierTokens ?? 2 * w.verifierContext + longestStep,
              });
            },
          }),
          problem,
        );
        sum.latency += result.latencyMs;
        sum.gen += result.counters.generatorMs;
        sum.ver += result.counters.verifierMs;
        sum.preempt += result.counters.preemptions;
        for (const pool of [env.generatorPool, env.verifierPool]) {
          sum.hit += pool.stats.prefixHitTokens;
          sum.recomputed += pool.stats.recomputedTokens;
          sum.evict += pool.stats.evictions;
        }
        for (const e of env.trace!.entries) sum.computed += e.newTokens;
        if (split === 'planner' && planner.log.length > 0) {
          for (const e of planner.log) {
            sum.gPages += e.choice.generatorPages;
            sum.vPages += e.choice.verifierPages;
          }
          sum.plans += planner.log.length;
        } else {
          sum.gPages += half.g;
          sum.vPages += half.v;
          sum.plans += 1;
        }
      }
      rows.push({
        source: 'cost-model',
        profile: profile.name,
        n,
        split,
        problems,
        latencyMs: sum.latency / problems,
        generatorMs: sum.gen / problems,
        verifierMs: sum.ver / problems,
        prefixHitRate: sum.hit / Math.max(1, sum.hit + sum.computed),
        prefixHitTokens: sum.hit / problems,
        recomputedTokens: sum.recomputed / problems,
        preemptions: sum.preempt / problems,
        evictions: sum.evict / problems,
        meanGeneratorPages: sum.gPages / sum.plans,
        meanVerifierPages: sum.vPages / sum.plans,
      });
    }
  }
  return rows;
}

/**
 * The side-by-side table of both memory benchmarks (static 50/50 and planner per n): the shared columns, with
 * `counts` (recomputed tokens, preemptions, ...) formatted by each benchmark in the middle.
 */
export function memoryBenchTable<R extends MemoryBenchFields>(
  head: string,
  rows: R[],
  counts: { cols: string[]; cells: (r: R) => Array<string | number> },
): string {
  const cols = ['n', 'split', 'latency ms', 'gen ms', 'ver ms', 'prefix-hit', ...counts.cols, 'gen pages', 'ver pages', 'speed-up'];
  const lines = [head, cols.join(' | ')];
  for (const r of rows) {
    const base = rows.find((s) => s.n === r.n && s.split === 'static-50/50');
    lines.push(
      [
        r.n,
        r.split,
        r.latencyMs.toFixed(0),
        r.generatorMs.toFixed(0),
        r.verifierMs.toFixed(0),
        `${(100 * r.prefixHitRate).toFixed(1)}%`,
        ...counts.cells(r),
        r.meanGeneratorPages.toFixed(0),
        r.meanVerifierPages.toFixed(0),
        base ? `${(base.latencyMs / r.latencyMs).toFixed(2)}x` : '',
      ].join(' | '),
    );
  }
  return lines.join('\n');
}

/** The cost model's table (means over problems: counts carry a decimal). */
export function formatMemoryBench(rows: MemoryBenchRow[], kvBudgetMiB = 1024): string {
  const head = `KV memory benchmark, estimated by the cost model (profile ${rows[0]?.profile ?? '?'}, Qwen2.5-Math-1.5B + Skywork-PRM-1.5B shapes, KV budget ${kvBudgetMiB} MiB, beam search)`;
  return memoryBenchTable(head, rows, { cols: ['recomputed tok', 'preempt'], cells: (r) => [r.recomputedTokens.toFixed(0), r.preemptions.toFixed(1)] });
}
