// Step statistics for the cost model's synthetic workload: the named sets, statistics recorded from real
// search results (`eval --record-steps`), and the file `bench --statistics` reads. The cost-model bench
// replays them, so its estimates can follow a real model's step lengths instead of an assumption.
import { readFileSync } from 'node:fs';
import { FormatError, OptionError } from '../errors.ts';
import { DEFAULT_STEP_STATISTICS, MATH500_STEP_STATISTICS, type StepStatistics } from './synthetic-model.ts';

/** The built-in sets `--statistics` names. */
export const NAMED_STEP_STATISTICS: Readonly<Record<string, StepStatistics>> = {
  assumed: DEFAULT_STEP_STATISTICS,
  math500: MATH500_STEP_STATISTICS,
};

/** What a search result must carry for its statistics to be recorded (runSearch's and solve's beams). */
export interface RecordableResult {
  beams: ReadonlyArray<{ stepTokens?: readonly number[]; completed: boolean; stepScores: ReadonlyArray<number | null> }>;
}

/**
 * Step statistics recorded from real search results: step lengths, steps per completed solution, and
 * the share of steps the PRM scored below 0.5 as the rate of mistaken steps. Null when the results hold
 * no step or no completed solution (nothing to replay).
 */
export function recordStepStatistics(results: readonly RecordableResult[], origin = 'real search results'): StepStatistics | null {
  const stepLengths: number[] = [];
  const stepsPerSolution: number[] = [];
  let scored = 0,
    low = 0;
  for (const r of results) {
    for (const b of r.beams) {
      if (b.stepTokens) stepLengths.push(...b.stepTokens.filter((t) => t > 0));
      if (b.completed) stepsPerSolution.push(b.stepScores.length);
      for (const x of b.stepScores) {
        if (x === null) continue;
        scored++;
        if (x < 0.5) low++;
      }
    }
  }
  if (stepLengths.length === 0 || stepsPerSolution.length === 0) return null;
  return {
    source: `recorded from ${results.length} ${origin}: ${stepLengths.length} steps, ${stepsPerSolution.length} completed solutions`,
    stepLengths: stepLengths.sort((a, b) => a - b),
    stepsPerSolution: stepsPerSolution.sort((a, b) => a - b),
    stepErrorRate: scored > 0 ? Math.min(0.9, low / scored) : DEFAULT_STEP_STATISTICS.stepErrorRate,
  };
}

const positiveInts = (x: unknown): x is number[] => Array.isArray(x) && x.length > 0 && x.every((v) => Number.isInteger(v) && v > 0);

/** Checks a parsed statistics object (`eval --record-steps` writes these). */
export function parseStepStatistics(raw: unknown, file: string): StepStatistics {
  if (typeof raw !== 'object' || raw === null) throw new FormatError(file, 'step statistics must be a JSON object');
  const o = raw as Record<string, unknown>;
  if (!positiveInts(o.stepLengths)) throw new FormatError(file, 'stepLengths must be a non-empty list of positive integers (tokens per step)');
  if (!positiveInts(o.stepsPerSolution)) throw new FormatError(file, 'stepsPerSolution must be a non-empty list of positive integers');
  const rate = o.stepErrorRate ?? DEFAULT_STEP_STATISTICS.stepErrorRate;
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new FormatError(file, 'stepErrorRate must be a number in [0, 1)');
  if (o.source !== undefined && typeof o.source !== 'string') throw new FormatError(file, 'source must be a string');
  return {
    stepLengths: [...o.stepLengths].sort((a, b) => a - b),
    stepsPerSolution: [...o.stepsPerSolution].sort((a, b) => a - b),
    stepErrorRate: rate,
    source: `${o.source ?? 'step statistics'} (${file})`,
  };
}

/** `--statistics`: a named set, or a JSON file of step statistics (`eval --record-steps` output). */
export function stepStatisticsOption(value: string | undefined): StepStatistics | undefined {
  if (value === undefined) return undefined;
  const named = NAMED_STEP_STATISTICS[value];
  if (named) return named;
  if (!value.endsWith('.json'))
    throw new OptionError(
      `--statistics: ${Object.keys(NAMED_STEP_STATISTICS).join(', ')} or a .json file of step statistics (eval --record-steps), got "${value}"`,
    );
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (e) {
    throw new FormatError(value, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot be read');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new FormatError(value, 'not valid JSON');
  }
  return parseStepStatistics(raw, value);
}
