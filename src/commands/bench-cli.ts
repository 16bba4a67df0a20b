// `fasttts bench`: baseline and FastTTS side by side in one run.
//   (i)  measured on this device: the bundled models through the engine, same seeds, same problems;
//   (ii) estimated by the cost model at Qwen2.5-Math shapes on a hardware profile (bench.ts).
// `--decode` measures decode tokens/s and weight bandwidth; `--memory` the planner against a static split.
import { readFileSync, writeFileSync } from 'node:fs';
import { intListOption, intOption, parseCommandArgs } from '../cli-args.ts';
import { createEngine } from '../api/create-engine.ts';
import type { SolveMetrics, SolveResult } from '../api/types.ts';
import { OptionError } from '../errors.ts';
import { answersEqual } from '../search/answer.ts';
import { benchCostModel, formatRatios, ratioTable, type BenchRow } from './bench.ts';
import { benchDecode } from './bench-decode.ts';
import { benchMemory, formatMemoryBench } from './bench-memory.ts';
import { parseDataset } from './eval.ts';
import { DEFAULT_DATASET, solveOptionsFrom } from './solve-cli.ts';

const MEASURED_MODES = ['baseline', 'fasttts'] as const;

function sum(metrics: SolveMetrics[], key: keyof SolveMetrics): number {
  return metrics.reduce((a, m) => a + m[key], 0);
}

/** Median of a list of numbers. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Measured rows: each problem solved in both modes back to back (interleaved, so machine noise hits both). */
async function benchMeasured(nList: number[], modes: readonly string[], problemsCount: number, seed: number): Promise<BenchRow[]> {
  const problems = parseDataset(readFileSync(DEFAULT_DATASET, 'utf8'), DEFAULT_DATASET, problemsCount);
  const engine = await createEngine({});
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
      for (const mode of modes) {
        const rs = results.get(mode)!;
        const metrics = rs.map((x) => x.r.metrics);
        const mean = (k: keyof SolveResult['metrics']) => metrics.reduce((a, m) => a + (m[k] as number), 0) / metrics.length;
        rows.push({
          source: 'measured', profile: info.adapter, pairing: 'bundled', budget: `${info.memoryMB}MiB`, n, mode,
          problems: rs.length, accuracy: rs.filter((x) => x.ok).length / rs.length, speculation_batch: 0,
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
        } as BenchRow);
      }
    }
  } finally {
    await engine.dispose();
  }
  return rows;
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, flags } = parseCommandArgs('bench', argv, {
    modes: { type: 'string' },
    n: { type: 'string' },
    profile: { type: 'string' },
    problems: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'string' },
    decode: { type: 'boolean' },
    memory: { type: 'boolean' },
  });
  if (flags.decode) {
    const r = await benchDecode({});
    console.log(r.table);
    if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2));
    return 0;
  }
  if (flags.memory) {
    const rows = await benchMemory({});
    console.log(formatMemoryBench(rows));
    if (values.json) writeFileSync(values.json, JSON.stringify({ rows }, null, 2));
    return 0;
  }
  const profile = values.profile;
  const modes = values.modes?.split(',').map((s) => s.trim()) ?? undefined;
  const seed = intOption('seed', values.seed, 0, 0, 0xffffffff);
  const rows: BenchRow[] = [];
  if (profile === undefined || profile === 'measured') {
    const measuredModes = modes ?? [...MEASURED_MODES];
    for (const m of measuredModes) if (!(MEASURED_MODES as readonly string[]).includes(m)) throw new OptionError(`--modes: measured runs support baseline,fasttts, got "${m}"`);
    const nList = intListOption('n', values.n, [4, 8, 16], 1, 4096);
    console.error(`measuring on this device: bundled models, n=${nList.join(',')}, ${measuredModes.join(' vs ')} ...`);
    rows.push(...(await benchMeasured(nList, measuredModes, intOption('problems', values.problems, 3, 1, 10000), seed)));
  }
  if (profile !== 'measured') {
    const nList = intListOption('n', values.n, [8, 16, 32, 64, 128, 256, 512], 1, 4096);
    console.error(`estimating with the cost model: ${profile ?? 'rtx4090'} profile, n=${nList.join(',')} ...`);
    const r = await benchCostModel({ profile: profile ?? 'rtx4090', n: nList, modes, seed });
    rows.push(...r.rows);
  }
  console.log(formatRatios(ratioTable(rows)));
  if (values.json) writeFileSync(values.json, JSON.stringify({ rows, ratios: ratioTable(rows) }, null, 2));
  return 0;
}
