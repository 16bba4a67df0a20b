// Writes the train / validation / test splits of the arithmetic task. The test and validation splits are
// committed under data/; the train split is large and goes to tools/train/.work/. No problem (same
// expression tree, hence same reference solution) appears in two splits.
// Usage: npx tsx tools/train/make-splits.ts [trainCount]
import { mkdirSync, writeFileSync } from 'node:fs';
import { generateProblems, type ArithmeticProblem } from '../../src/tasks/arithmetic.ts';

const SEEDS = { test: 1001, validation: 2002, train: 3003 };
const trainCount = Number(process.argv[2] ?? 150000);

const seen = new Set<string>();
function fresh(problems: ArithmeticProblem[]): ArithmeticProblem[] {
  const out = problems.filter((p) => !seen.has(p.solution));
  for (const p of out) seen.add(p.solution);
  return out;
}
const toJsonl = (ps: ArithmeticProblem[]): string => ps.map((p) => JSON.stringify(p)).join('\n') + '\n';

const test = fresh(generateProblems(SEEDS.test, 1050, 'arith-test'));
const validation = fresh(generateProblems(SEEDS.validation, 700, 'arith-val'));
const train = fresh(generateProblems(SEEDS.train, trainCount, 'arith-train'));
mkdirSync('data', { recursive: true });
mkdirSync('tools/train/.work', { recursive: true });
writeFileSync('data/arith-test.jsonl', toJsonl(test));
writeFileSync('data/arith-validation.jsonl', toJsonl(validation));
writeFileSync('tools/train/.work/arith-train.jsonl', toJsonl(train));
console.log(`test ${test.length}, validation ${validation.length}, train ${train.length}`);
