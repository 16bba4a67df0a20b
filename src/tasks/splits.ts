// The train / validation / test splits of the arithmetic task, each from its own seed. A problem (same
// expression tree, hence same reference solution) belongs to the first split that drew it, so no problem
// is in two splits, and the test and validation splits hold no repeats (the train split may repeat a problem).
// data/arith-test.jsonl and data/arith-validation.jsonl are these splits, committed.
import { generateProblems, type ArithmeticProblem } from './arithmetic.ts';

export const SPLIT_SEEDS = { test: 1001, validation: 2002, train: 3003 } as const;
export const SPLIT_SIZES = { test: 1120, validation: 700 } as const;

export interface Splits {
  test: ArithmeticProblem[];
  validation: ArithmeticProblem[];
  train: ArithmeticProblem[];
}

export function buildSplits(trainCount: number): Splits {
  const seen = new Set<string>();
  const fresh = (problems: ArithmeticProblem[], repeatsAllowed = false): ArithmeticProblem[] => {
    const out: ArithmeticProblem[] = [];
    const drawn = new Set<string>();
    for (const p of problems) {
      if (seen.has(p.solution) || (!repeatsAllowed && drawn.has(p.solution))) continue;
      out.push(p);
      drawn.add(p.solution);
    }
    for (const s of drawn) seen.add(s);
    return out;
  };
  const test = fresh(generateProblems(SPLIT_SEEDS.test, SPLIT_SIZES.test, 'arith-test'));
  const validation = fresh(generateProblems(SPLIT_SEEDS.validation, SPLIT_SIZES.validation, 'arith-val'));
  const train = fresh(generateProblems(SPLIT_SEEDS.train, trainCount, 'arith-train'), true);
  return { test, validation, train };
}

export function toJsonl(problems: ArithmeticProblem[]): string {
  return problems.map((p) => JSON.stringify(p)).join('\n') + '\n';
}
