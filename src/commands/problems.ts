// `fasttts problems`: fresh problems of the bundled arithmetic task as JSONL (id, problem, answer,
// solution), from any seed, so anyone can make a set the bundled models were never trained or tuned on.
import { writeFileSync } from 'node:fs';
import { intOption, optionSpecs, parseCommandArgs } from './args.ts';
import { OptionError } from '../errors.ts';
import { generateProblems, MAX_DIFFICULTY, MIN_DIFFICULTY } from '../tasks/arithmetic.ts';

export const PROBLEMS_OPTIONS = optionSpecs(['seed', 'count', 'levels', 'out']);

/** "a-b" or "a" -> the levels a..b, each in MIN_DIFFICULTY..MAX_DIFFICULTY. */
export function parseLevels(raw: string | undefined): number[] {
  if (raw === undefined) return Array.from({ length: MAX_DIFFICULTY - MIN_DIFFICULTY + 1 }, (_, i) => MIN_DIFFICULTY + i);
  const m = /^(\d+)(?:-(\d+))?$/.exec(raw);
  const [lo, hi] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
  if (!(lo >= MIN_DIFFICULTY && hi <= MAX_DIFFICULTY && lo <= hi)) {
    throw new OptionError(`--levels must be a or a-b with ${MIN_DIFFICULTY} <= a <= b <= ${MAX_DIFFICULTY}, got "${raw}"`);
  }
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

export async function problemsCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('problems', argv, PROBLEMS_OPTIONS);
  const seed = intOption('seed', values.seed, 1, 0, 2 ** 32 - 1);
  const count = intOption('count', values.count, 70, 1, 1_000_000);
  const levels = parseLevels(values.levels);
  const lines = generateProblems(seed, count, `seed${seed}`, levels).map(({ id, problem, answer, difficulty, solution }) =>
    JSON.stringify({ id, problem, answer, difficulty, solution }),
  );
  const text = lines.join('\n') + '\n';
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  return 0;
}
