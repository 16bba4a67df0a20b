// The arithmetic task generator: reproducible from its seed, correct reference solutions (checked by an
// independent evaluator), the promised difficulty ladder, and committed splits that match the generator.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chatPrompt, generateProblem, generateProblems, type ArithmeticProblem } from '../src/tasks/arithmetic.ts';
import { seededRng } from '../src/tasks/random.ts';
import { buildSplits, SPLIT_SIZES } from '../src/tasks/splits.ts';

/** Independent recursive-descent evaluator of the problem's expression (integer arithmetic, exact division). */
function evaluate(problem: string): number {
  const expr = problem.replace(/^[^\d(]*/, '').replace(/[^\d)]*$/, '');
  const tokens = expr.match(/\d+|[-+*/()]/g) ?? [];
  let i = 0;
  const atom = (): number => {
    const t = tokens[i++];
    if (t === '(') {
      const v = sum();
      expect(tokens[i++]).toBe(')');
      return v;
    }
    return Number(t);
  };
  const product = (): number => {
    let v = atom();
    while (tokens[i] === '*' || tokens[i] === '/') {
      const op = tokens[i++];
      const r = atom();
      if (op === '/') expect(v % r).toBe(0);
      v = op === '*' ? v * r : v / r;
    }
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[i] === '+' || tokens[i] === '-') v = tokens[i++] === '+' ? v + product() : v - product();
    return v;
  };
  const v = sum();
  expect(i).toBe(tokens.length);
  return v;
}

function checkSolution(p: ArithmeticProblem): void {
  const steps = p.solution.split('\n\n');
  expect(steps.length).toBe(p.difficulty + 2); // difficulty + 1 operations, then the answer
  for (const s of steps.slice(0, -1)) {
    const m = /^(\d+) ([-+*/]) (\d+) = (\d+)$/.exec(s);
    expect(m, s).not.toBeNull();
    const [a, b, c] = [Number(m![1]), Number(m![3]), Number(m![4])];
    const want = { '+': a + b, '-': a - b, '*': a * b, '/': a / b }[m![2] as '+' | '-' | '*' | '/'];
    expect(c).toBe(want);
  }
  expect(steps[steps.length - 1]).toBe(`The answer is \\boxed{${p.answer}}.`);
  expect(String(evaluate(p.problem))).toBe(p.answer);
}

describe('arithmetic task generator', () => {
  it('is reproducible from its seed and differs across seeds', () => {
    expect(generateProblems(7, 30, 'a')).toEqual(generateProblems(7, 30, 'a'));
    expect(generateProblems(8, 30, 'a')).not.toEqual(generateProblems(7, 30, 'a'));
  });

  it('writes correct one-operation steps that reach the expression value, at every difficulty', () => {
    for (const p of generateProblems(11, 700, 'c')) checkSolution(p);
  });

  it('grows magnitudes with difficulty and uses parentheses', () => {
    const ps = generateProblems(5, 1400, 'm');
    const maxNumber = (d: number) => Math.max(...ps.filter((p) => p.difficulty === d).flatMap((p) => (p.problem.match(/\d+/g) ?? []).map(Number)));
    expect(maxNumber(7)).toBeGreaterThan(maxNumber(1) * 10);
    expect(ps.filter((p) => p.problem.includes('(')).length).toBeGreaterThan(ps.length / 3);
  });

  it('rejects an unknown difficulty', () => {
    expect(() => generateProblem(seededRng(1), 9, 'x')).toThrow(RangeError);
  });

  it('builds ChatML prompts with the Qwen2.5-Math system prompt', () => {
    expect(chatPrompt('What is 1 + 2?')).toBe(
      '<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 1 + 2?<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

describe('committed splits', () => {
  const read = (f: string): ArithmeticProblem[] => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const test = read('data/arith-test.jsonl');
  const validation = read('data/arith-validation.jsonl');

  it('are what the seeded generator produces', () => {
    const splits = buildSplits(0);
    expect(test).toEqual(splits.test);
    expect(validation).toEqual(splits.validation);
  });

  it('has at least 1,000 labelled test problems over all difficulties, none shared with validation or train', () => {
    expect(test.length).toBeGreaterThanOrEqual(1000);
    expect(test.length).toBeLessThanOrEqual(SPLIT_SIZES.test);
    for (let d = 1; d <= 7; d++) expect(test.filter((p) => p.difficulty === d).length).toBeGreaterThanOrEqual(140);
    for (const p of test) expect(Object.keys(p).sort()).toEqual(['answer', 'difficulty', 'id', 'problem', 'solution']);
    const testSolutions = new Set(test.map((p) => p.solution));
    expect(testSolutions.size).toBe(test.length);
    expect(validation.some((p) => testSolutions.has(p.solution))).toBe(false);
    expect(buildSplits(3000).train.some((p) => testSolutions.has(p.solution))).toBe(false);
    for (const p of test.slice(0, 200)) checkSolution(p);
  });
});
