// The measured half of `fasttts bench` (and of `bench --gpu-report`): the bundled models through the
// engine on this device, each problem solved in every mode back to back with the same seed, so machine
// noise hits all modes alike and the answers can be compared problem by problem.
import { readFileSync } from 'node:fs';
import { createEngine } from '../api/create-engine.ts';
import { checkSolveOptions } from '../api/solve-search.ts';
import type { SolveMetrics, SolveResult } from '../api/types.ts';
import type { KvDtype } from '../gpu/kv-dtype.ts';
import { answersEqual } from '../search/answer.ts';
import type { BenchRow, PairedComparison } from './bench.ts';
import { parseDataset } from './eval.ts';
import { DEFAULT_DATASET, solveOptionsFrom } from './solve-cli.ts';

function sum(metrics: SolveMetrics[], key: keyof SolveMetrics): number {
  return metrics.reduce((a, m) => a + m[key], 0);
}

/** Median of a list of numbers. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The same final answer and the same completed beams, text for text, in order. */
function sameResult(a: SolveResult, b: SolveResult): boolean {
  const texts = (r: SolveResult): string => JSON.stringify(r.beams.filter((x) => x.completed).map((x) => x.text));
  return a.answer === b.answer && texts(a) === texts(b);
}

/** Measured rows: each problem solved in both modes back to back (interleaved, so machine noise hits both). */
export async function benchMeasured(nList: number[], modes: readonly string[], problemsCount: number, seed: number, kvDtype: KvDtype): Promise<BenchRow[]> {
  const problems = parseDataset(readFileSync(DEFAULT_DATASET, 'utf8'), DEFAULT_DATASET, problemsCount);
  for (const n of nList) checkSolveOptions({ ...solveOptionsFrom({}), n }); // before minutes of work, not after
  const engine = await createEngine({ kvDtype });
  const info = await engine.ready;
  const rows: BenchRow[] = [];
  try {
    for (const n of nList) {
      const results = new Map<string, Array<{ r: SolveResult; ok: boolean }>>(modes.map((m) => [m, []]));
      for (const p of problems) {
        for (const mode of modes) {
          const r = await engine.solve(p.problem, { ...solveOptionsFrom({}), n, mode: mode as 'baseline' | 'fasttts', seed });
          results.get(mode)!.push({ r, ok: answersEqual(r.answer, p.answer) });
        }
      }
      const baseline = results.get('baseline');
      for (const mode of modes) {
        const rs = results.get(mode)!;
        const metrics = rs.map((x) => x.r.metrics);
        const paired: PairedComparison | undefined =
          baseline && mode !== 'baseline'
            ? {
                latency_ratio_median: median(rs.map((x, i) => x.r.metrics.latency_ms / baseline[i].r.metrics.latency_ms)),
                same_as_baseline: rs.filter((x, i) => sameResult(x.r, baseline[i].r)).length,
                problems: rs.length,
              }
            : undefined;
        const mean = (k: keyof SolveResult['metrics']) => metrics.reduce((a, m) => a + (m[k] as number), 0) / metrics.length;
        rows.push({
          source: 'measured',
          profile: info.adapter,
          pairing: 'bundled',
          budget: `${info.memoryMB}MiB`,
          n,
          mode,
          problems: rs.length,
          accuracy: rs.filter((x) => x.ok).length / rs.length,
          speculation_batch: median(metrics.map((m) => m.speculation_batch)),
          latency_ms: median(metrics.map((m) => m.latency_ms)),
          generator_ms: median(metrics.map((m) => m.generator_ms)),
          verifier_ms: median(metrics.map((m) => m.verifier_ms)),
          // The paper's definitions over problems: sum of mean tokens per completed beam over the sum of
          // latencies (goodput) or of mean beam completion times (precise goodput).
          goodput: (1000 * sum(metrics, 'mean_tokens_per_completed_beam')) / sum(metrics, 'latency_ms'),
          precise_goodput: (1000 * sum(metrics, 'mean_tokens_per_completed_beam')) / sum(metrics, 'mean_completion_ms'),
          tokens_generated: mean('tokens_generated'),
          tokens_speculative: mean('tokens_speculative'),
          tokens_speculative_accepted: mean('tokens_speculative_accepted'),
          prefix_hit_tokens: mean('prefix_hit_tokens'),
          recomputed_tokens: mean('recomputed_tokens'),
          iterations: mean('iterations'),
          peak_kv_pages_generator: mean('peak_kv_pages_generator'),
          peak_kv_pages_verifier: mean('peak_kv_pages_verifier'),
          paired,
        } as BenchRow);
      }
    }
  } finally {
    await engine.dispose();
  }
  return rows;
}
