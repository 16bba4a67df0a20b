// `fasttts solve` and `fasttts eval`: parse the options of the command-line contract and run them
// through the public engine API (in-process in Node), on the bundled models by default.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { choiceOption, intOption, numberOption, parseCommandArgs, type ParsedArgs } from './args.ts';
import { createEngine } from '../api/create-engine.ts';
import type { Engine, EngineEvent, LoadProgress, SolveOptions, SolveResult } from '../api/types.ts';
import { FormatError, OptionError } from '../errors.ts';
import { answersEqual } from '../search/answer.ts';
import { parseDataset } from './eval.ts';
import { recordStepStatistics } from '../simulation/step-statistics.ts';
import { progressBar } from './progress-bar.ts';
import { DEFAULT_KV_DTYPE, KV_DTYPES } from '../gpu/kv-dtype.ts';
import { WEIGHT_FORMATS, type WeightFormat } from '../gpu/quant.ts';

export const DEFAULT_DATASET = fileURLToPath(new URL('../../data/arith-test.jsonl', import.meta.url));

/** The options `solve` takes (`eval` adds --dataset and --limit); src/cli.ts's usage lists the same. */
export const SOLVE_OPTIONS = {
  generator: { type: 'string' },
  verifier: { type: 'string' },
  method: { type: 'string' },
  n: { type: 'string' },
  'beam-width': { type: 'string' },
  iterations: { type: 'string' },
  agg: { type: 'string' },
  select: { type: 'string' },
  mode: { type: 'string' },
  'memory-mb': { type: 'string' },
  'kv-page-size': { type: 'string' },
  'kv-dtype': { type: 'string' },
  weights: { type: 'string' },
  route: { type: 'string' },
  threads: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export function solveOptionsFrom(values: ParsedArgs['values']): SolveOptions {
  const method = choiceOption('method', values.method, 'beam', ['greedy', 'majority', 'best-of-n', 'beam', 'dvts'] as const);
  const n = intOption('n', values.n, method === 'greedy' ? 1 : 8, 1, 4096);
  const beamWidth = intOption('beam-width', values['beam-width'], 4, 1, 4096);
  if ((method === 'beam' || method === 'dvts') && n % beamWidth !== 0)
    throw new OptionError(`--n (${n}) must be a multiple of --beam-width (${beamWidth}) for ${method}`);
  return {
    method,
    n,
    beamWidth,
    iterations: intOption('iterations', values.iterations, 10, 1, 1000),
    agg: choiceOption('agg', values.agg, 'last', ['last', 'min', 'prod', 'mean'] as const),
    select: choiceOption('select', values.select, 'weighted', ['top1', 'majority', 'weighted'] as const),
    mode: choiceOption('mode', values.mode, 'fasttts', ['fasttts', 'baseline'] as const),
    temperature: numberOption('temperature', values.temperature, 0.8, 0, 100),
    maxTokens: values['max-tokens'] === undefined ? undefined : intOption('max-tokens', values['max-tokens'], 0, 1, 1 << 20),
    seed: intOption('seed', values.seed, 0, 0, 0xffffffff),
  };
}

async function engineFrom(values: ParsedArgs['values']): Promise<Engine> {
  const bar = progressBar('loading');
  const engine = await createEngine({
    generator: values.generator ?? 'bundled',
    verifier: values.verifier ?? 'bundled',
    memoryMB: values['memory-mb'] === undefined ? undefined : numberOption('memory-mb', values['memory-mb'], 0, 1, 1 << 22),
    kvPageSize: values['kv-page-size'] === undefined ? undefined : intOption('kv-page-size', values['kv-page-size'], 16, 1, 256),
    kvDtype: choiceOption('kv-dtype', values['kv-dtype'], DEFAULT_KV_DTYPE, KV_DTYPES),
    weights: choiceOption<'auto' | WeightFormat>('weights', values.weights, 'auto', ['auto', ...WEIGHT_FORMATS]),
    route: choiceOption('route', values.route, 'auto', ['auto', 'webgpu', 'cpu'] as const),
    threads: values.threads === undefined ? undefined : intOption('threads', values.threads, 1, 1, 64),
    onProgress: bar ? (p: LoadProgress) => bar(p) : undefined,
  });
  await engine.ready;
  return engine;
}

type PlannerEvent = Extract<EngineEvent, { type: 'planner' }>;

/** One stderr line per iteration under --verbose: the planner's inputs, choice, predicted against observed. */
export function formatPlannerEvent(e: PlannerEvent): string {
  const w = e.inputs,
    c = e.choice,
    p = e.predicted;
  const split = c.offload ? 'offload (each phase the whole arena, idle model in host memory)' : `gen ${c.generatorPages}p ver ${c.verifierPages}p`;
  return (
    `planner it=${e.iteration} beams=${w.beams} step mean ${w.meanStepLength.toFixed(0)} max ${w.maxStepLength} (${w.stepLengthsSeen} seen) ` +
    `ctx ${w.generatorContext.toFixed(0)}/${w.verifierContext.toFixed(0)} distinct ${w.distinctGeneratorTokens}/${w.distinctVerifierTokens} kv ${(w.kvBytes / 2 ** 20).toFixed(1)} MiB ` +
    `-> ${c.kept ? 'kept ' : ''}${split} predicted ${p.ms.toFixed(1)} ms (gen ${p.generatorMs.toFixed(1)}, ver ${p.verifierMs.toFixed(1)}, xfer ${p.transferMs.toFixed(1)}) ` +
    `observed ${e.observedMs.toFixed(1)} ms`
  );
}

/** --verbose: the planner's log on stderr as the search runs. */
function verboseEvents(verbose: boolean | undefined): ((e: EngineEvent) => void) | undefined {
  if (!verbose) return undefined;
  return (e) => {
    if (e.type === 'planner') console.error(formatPlannerEvent(e));
  };
}

/** The contract's `solve --json` object. */
export function solveJson(r: SolveResult) {
  return {
    answer: r.answer,
    beams: r.beams.map((b) => ({
      text: b.text,
      score: b.score,
      answer: b.answer,
      completed: b.completed,
      step_scores: b.stepScores,
      step_tokens: b.stepTokens,
    })),
    metrics: r.metrics,
  };
}

export async function solveCommand(argv: string[]): Promise<number> {
  const { values, flags, positionals } = parseCommandArgs('solve', argv, SOLVE_OPTIONS, 1);
  const problem = positionals[0];
  if (problem === undefined || problem.trim() === '') throw new OptionError('solve needs a problem: fasttts solve "<problem>"');
  const options = solveOptionsFrom(values);
  const engine = await engineFrom(values);
  try {
    const r = await engine.solve(problem, options, { onEvent: verboseEvents(flags.verbose) });
    if (flags.json) {
      console.log(JSON.stringify(solveJson(r)));
    } else {
      const best = r.beams[r.chosen];
      if (best) console.log(best.text.trim());
      console.log(`\nanswer: ${r.answer ?? '(none)'}`);
      const m = r.metrics;
      console.error(
        `[${options.method} n=${options.n} ${r.mode}: ${m.latency_ms.toFixed(0)} ms (generator ${m.generator_ms.toFixed(0)}, verifier ${m.verifier_ms.toFixed(0)}), ${m.tokens_generated} tokens, ${m.iterations} iterations; ${(await engine.ready).adapter}]`,
      );
    }
    return 0;
  } finally {
    await engine.dispose();
  }
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, flags } = parseCommandArgs('eval', argv, {
    ...SOLVE_OPTIONS,
    dataset: { type: 'string' },
    limit: { type: 'string' },
    'record-steps': { type: 'string' },
  });
  const recordTo = values['record-steps'];
  if (recordTo !== undefined && !recordTo.endsWith('.json')) throw new OptionError(`--record-steps: a .json file to write, got "${recordTo}"`);
  const options = solveOptionsFrom(values);
  const file = values.dataset ?? DEFAULT_DATASET;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new FormatError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot be read');
  }
  const problems = parseDataset(text, file, intOption('limit', values.limit, 1 << 30, 1));
  const engine = await engineFrom(values);
  try {
    const results: SolveResult[] = [];
    const records: Array<{ id: string; difficulty?: number; reference: string; answer: string | null; correct: boolean; metrics: SolveResult['metrics'] }> = [];
    for (const p of problems) {
      const r = await engine.solve(p.problem, options, { onEvent: verboseEvents(flags.verbose) });
      const correct = answersEqual(r.answer, p.answer);
      results.push(r);
      records.push({
        id: p.id,
        ...(p.difficulty === undefined ? {} : { difficulty: p.difficulty }),
        reference: p.answer,
        answer: r.answer,
        correct,
        metrics: r.metrics,
      });
      if (!flags.json)
        console.error(`${p.id}: ${correct ? 'ok ' : 'BAD'} answer=${r.answer ?? '-'} reference=${p.answer} ${r.metrics.latency_ms.toFixed(0)} ms`);
    }
    const lat = records.map((r) => r.metrics.latency_ms).sort((a, b) => a - b);
    const mid = lat.length >> 1;
    const out = {
      accuracy: records.filter((r) => r.correct).length / records.length,
      problems: records.length,
      latency_ms_median: lat.length % 2 ? lat[mid] : (lat[mid - 1] + lat[mid]) / 2,
      accuracy_by_difficulty: accuracyByDifficulty(records),
      method: options.method,
      n: options.n,
      mode: options.mode,
      records,
    };
    if (recordTo !== undefined) {
      // The step statistics the cost-model bench replays (bench --statistics <file>).
      const stats = recordStepStatistics(results, `${options.method} n=${options.n} runs of ${(await engine.ready).generator} on ${basename(file)}`);
      if (!stats) throw new OptionError(`--record-steps: the runs produced no step of a completed solution to record`);
      writeFileSync(recordTo, `${JSON.stringify(stats)}\n`);
      console.error(`recorded ${stats.stepLengths.length} steps of ${stats.stepsPerSolution.length} completed solutions to ${recordTo}`);
    }
    if (flags.json) console.log(JSON.stringify(out));
    else {
      console.log(
        `accuracy ${(out.accuracy * 100).toFixed(1)}% on ${out.problems} problems (${options.method}, n=${options.n}, ${options.mode}); median latency ${out.latency_ms_median.toFixed(0)} ms`,
      );
      const levels = Object.entries(out.accuracy_by_difficulty);
      if (levels.length) console.log(`by difficulty: ${levels.map(([d, a]) => `${d}: ${(a * 100).toFixed(0)}%`).join(', ')}`);
    }
    return 0;
  } finally {
    await engine.dispose();
  }
}

/** Accuracy per difficulty label, for data sets that have them ({} otherwise). */
function accuracyByDifficulty(records: ReadonlyArray<{ difficulty?: number; correct: boolean }>): Record<string, number> {
  const tally = new Map<number, [number, number]>();
  for (const r of records) {
    if (r.difficulty === undefined) continue;
    const t = tally.get(r.difficulty) ?? [0, 0];
    tally.set(r.difficulty, [t[0] + Number(r.correct), t[1] + 1]);
  }
  return Object.fromEntries([...tally].sort((a, b) => a[0] - b[0]).map(([d, [right, all]]) => [String(d), right / all]));
}
