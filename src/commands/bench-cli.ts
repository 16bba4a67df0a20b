// `fasttts bench`: baseline and FastTTS side by side in one run.
//   (i)  measured on this device: the bundled models through the engine, same seeds, same problems;
//   (ii) estimated by the cost model at Qwen2.5-Math shapes on a hardware profile (bench.ts).
// `--decode` measures decode tokens/s and weight bandwidth; `--memory` the planner against a static split,
// both halves again: the cost model at Qwen2.5-Math shapes and the bundled models measured here.
import { writeFileSync } from 'node:fs';
import { choiceOption, intListOption, intOption, numberOption, optionSpecs, parseCommandArgs, type ParsedArgs } from './args.ts';
import { OptionError } from '../errors.ts';
import { WEIGHT_FORMATS } from '../gpu/quant.ts';
import { DEFAULT_KV_DTYPE, KV_DTYPES, type KvDtype } from '../gpu/kv-dtype.ts';
import { benchCostModel, formatRatios, ratioTable, type BenchRow } from './bench.ts';
import { benchDecode } from './bench-decode.ts';
import { ROUTE_CHOICES } from '../runtime/route.ts';
import { benchMemory, formatMemoryBench } from './bench-memory.ts';
import { benchMemoryMeasured, formatMeasuredMemoryBench } from './bench-memory-measured.ts';
import { benchMeasured } from './bench-measured.ts';
import { gpuReport } from './bench-gpu-report.ts';
import { stepStatisticsOption } from '../simulation/step-statistics.ts';

const MEASURED_MODES = ['baseline', 'fasttts'] as const;

/**
 * `bench --memory`: the planner against a static 50/50 split, estimated by the cost model and measured on
 * this device, one table each. The defaults keep it under a minute on a 2-core CPU route:
 * --n 8,16,32,64 --problems 1 --kv-mib 1024 (cost model), --measured-n 8 --measured-kv-mib 1 (bundled
 * models, f16 K/V: the pages 2 MiB held with f32, tight enough to evict and preempt; smaller budgets or
 * more beams recompute for minutes on a CPU device; with --kv-dtype f32 give 2), --iterations (both
 * halves; defaults 10 and 4).
 */
async function memoryBench(values: ParsedArgs['values']): Promise<{ rows: unknown[] }> {
  const iterations = values.iterations === undefined ? undefined : intOption('iterations', values.iterations, 0, 1, 1000);
  const kvMiB = numberOption('kv-mib', values['kv-mib'], 1024, 1, 1 << 20);
  const ns = intListOption('n', values.n, [8, 16, 32, 64], 1, 4096);
  console.error(`estimating with the cost model: ${values.profile ?? 'rtx4090'} profile, n=${ns.join(',')}, ${kvMiB} MiB of KV ...`);
  const estimated = await benchMemory({
    ns,
    problems: intOption('problems', values.problems, 1, 1, 10000),
    kvBudgetMiB: kvMiB,
    profile: values.profile,
    iterations,
  });
  console.log(formatMemoryBench(estimated, kvMiB));
  const measuredKvMiB = numberOption('measured-kv-mib', values['measured-kv-mib'], 1, 0.25, 1 << 16);
  const measuredNs = intListOption('measured-n', values['measured-n'], [8], 1, 4096);
  console.error(`measuring on this device: bundled models, n=${measuredNs.join(',')}, ${measuredKvMiB} MiB of KV ...`);
  const measured = await benchMemoryMeasured({ ns: measuredNs, kvBudgetMiB: measuredKvMiB, iterations, kvDtype: kvDtypeOption(values) });
  console.log(formatMeasuredMemoryBench(measured, measuredKvMiB));
  return { rows: [...estimated, ...measured] };
}

/** The options `bench` takes (src/cli.ts's usage lists the same). */
export const BENCH_OPTIONS = optionSpecs(
  [
    'modes',
    'n',
    'profile',
    'problems',
    'seed',
    'json',
    'iterations',
    'kv-mib',
    'measured-n',
    'measured-kv-mib',
    'settings',
    'pairings',
    'budgets',
    'statistics',
    'speculation-slack',
    'kv-dtype',
    'report',
    'route',
    'model',
    'batches',
    'steps',
    'weights',
    'threads',
  ],
  ['decode', 'memory', 'gpu-report', 'quick'],
);

const listOf = (s: string | undefined): string[] | undefined =>
  s
    ?.split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** --budgets: full, tight or a number of MiB, comma-separated. */
function budgetsOption(s: string | undefined): Array<'full' | 'tight' | number> | undefined {
  return listOf(s)?.map((b) => {
    if (b === 'full' || b === 'tight') return b;
    const mib = Number(b);
    if (!Number.isFinite(mib) || mib <= 0) throw new OptionError(`--budgets: each budget is full, tight or a number of MiB, got "${b}"`);
    return mib;
  });
}

/** --kv-dtype f16|f32: the engine's K/V storage in measured runs and in the cost model's engine setting. */
function kvDtypeOption(values: ParsedArgs['values']): KvDtype {
  return choiceOption('kv-dtype', values['kv-dtype'], DEFAULT_KV_DTYPE, KV_DTYPES);
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, flags } = parseCommandArgs('bench', argv, BENCH_OPTIONS);
  const kvDtype = kvDtypeOption(values);
  if (flags.quick && !flags['gpu-report']) throw new OptionError('--quick sizes --gpu-report: give both');
  if (values.report !== undefined && !flags['gpu-report']) throw new OptionError('--report names the --gpu-report files: give both');
  if (flags['gpu-report']) {
    const r = await gpuReport({
      quick: flags.quick,
      out: values.report,
      kvDtype,
      seed: intOption('seed', values.seed, 0, 0, 0xffffffff),
      onProgress: (line) => console.error(line),
    });
    console.log(r.decode.table);
    console.log(`kernel checks: ${r.checks.passed} passed, ${r.checks.failed} failed`);
    for (const c of r.fasttts.comparisons)
      console.log(
        `n=${c.n}: ${c.sameAsBaseline}/${c.problems} problems with the baseline's answer and beams; median latency baseline ${c.baselineLatencyMs.toFixed(0)} ms, FastTTS ${c.fasttsLatencyMs.toFixed(0)} ms`,
      );
    console.log(`wrote ${r.files.json} and ${r.files.html} (${r.seconds.total.toFixed(0)} s)`);
    return r.checks.failed === 0 ? 0 : 1;
  }
  for (const name of ['route', 'model', 'batches', 'steps', 'weights', 'threads'])
    if (values[name] !== undefined && !flags.decode) throw new OptionError(`--${name} belongs to --decode: give both`);
  if (flags.decode) {
    const r = await benchDecode({
      kvDtype,
      route: choiceOption('route', values.route, 'auto', ROUTE_CHOICES),
      threads: values.threads === undefined ? undefined : intOption('threads', values.threads, 1, 1, 64),
      model: values.model === 'qwen2.5-math-1.5b-shapes' ? undefined : values.model,
      models: values.model === 'qwen2.5-math-1.5b-shapes' ? ['qwen2.5-math-1.5b-shapes'] : undefined,
      batches: listOf(values.batches)?.map((b) => intOption('batches', b, 1, 1, 1024)),
      steps: values.steps === undefined ? undefined : intOption('steps', values.steps, 6, 1, 10000),
      weightFormat: values.weights === undefined ? undefined : choiceOption('weights', values.weights, 'q4', WEIGHT_FORMATS),
    });
    console.log(r.table);
    if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2));
    return 0;
  }
  if (flags.memory) {
    const out = await memoryBench(values);
    if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2));
    return 0;
  }
  const profile = values.profile;
  const modes = values.modes?.split(',').map((s) => s.trim()) ?? undefined;
  const seed = intOption('seed', values.seed, 0, 0, 0xffffffff);
  const stats = stepStatisticsOption(values.statistics); // checked (and the file read) before any work
  if (stats && profile === 'measured') throw new OptionError('--statistics drives the cost model; with --profile measured nothing replays them');
  // Measured runs take their budget from this device's own calibration; the slack sets the cost model's.
  const slack = values['speculation-slack'] === undefined ? undefined : numberOption('speculation-slack', values['speculation-slack'], 0.15, 0, 10);
  if (slack !== undefined && profile === 'measured')
    throw new OptionError("--speculation-slack sets the cost model's calibration; with --profile measured nothing uses it");
  const rows: BenchRow[] = [];
  if (profile === undefined || profile === 'measured') {
    const measuredModes = modes ?? [...MEASURED_MODES];
    for (const m of measuredModes)
      if (!(MEASURED_MODES as readonly string[]).includes(m)) throw new OptionError(`--modes: measured runs support baseline,fasttts, got "${m}"`);
    const nList = intListOption('n', values.n, [4, 8, 16], 1, 4096);
    console.error(`measuring on this device: bundled models, n=${nList.join(',')}, ${measuredModes.join(' vs ')} ...`);
    rows.push(...(await benchMeasured(nList, measuredModes, intOption('problems', values.problems, 3, 1, 10000), seed, kvDtype)));
  }
  if (profile !== 'measured') {
    const nList = intListOption('n', values.n, [8, 16, 32, 64, 128, 256, 512], 1, 4096);
    console.error(`estimating with the cost model: ${profile ?? 'rtx4090'} profile, n=${nList.join(',')} ...`);
    const r = await benchCostModel({
      profile: profile ?? 'rtx4090',
      n: nList,
      modes,
      seed,
      settings: listOf(values.settings),
      kvDtype,
      pairings: listOf(values.pairings),
      budgets: budgetsOption(values.budgets),
      stats,
      speculationSlack: slack,
      // The whole grid takes many minutes on a small CPU: say each row as it lands.
      onRow: (row) => console.error(`  ${row.setting} ${row.pairing} ${row.budget} n=${row.n} ${row.mode}: ${(row.latency_ms / 1000).toFixed(1)} s estimated`),
    });
    rows.push(...r.rows);
  }
  console.log(formatRatios(ratioTable(rows), kvDtype));
  if (values.json) writeFileSync(values.json, JSON.stringify({ rows, ratios: ratioTable(rows) }, null, 2));
  return 0;
}
