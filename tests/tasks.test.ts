// The arithmetic task generator: reproducible from its seed, correct reference solutions (checked by an
// independent evaluator), the promised difficulty ladder, and committed splits that match the generator.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chatPrompt, checkSteps, generateProblem, generateProblems, MAX_VALUE, problemChain, type ArithmeticProblem } from '../src/tasks/arithmetic.ts';
import { seededRng } from '../src/tasks/random.ts';
import { buildSplits, SPLIT_SIZES } from '../src/tasks/splits.ts';

/** Independent evaluator: multiplications first, then + and - left to right (the chain's usual meaning). */
function evaluate(problem: string): number {
  const tokens =
    problem
      .replace(/^[^\d]*/, '')
      .replace(/[^\d]*$/, '')
      .match(/\d+|[-+*]/g) ?? [];
  const terms: number[] = [];
  const signs: string[] = ['+'];
  let product = Number(tokens[0]);
  for (let i = 1; i < tokens.length; i += 2) {
    if (tokens[i] === '*') product *= Number(tokens[i + 1]);
    else {
      terms.push(product);
      signs.push(tokens[i]);
      product = Number(tokens[i + 1]);
    }
  }
  terms.push(product);
  return terms.reduce((v, t, i) => (signs[i] === '-' ? v - t : v + t), 0);
}

function checkSolution(p: ArithmeticProblem): void {
  const steps = p.solution.split('\n\n');
  expect(steps.length).toBe(p.difficulty + 2); // difficulty + 1 operations, then the answer
  let chain = problemChain(p.problem)!;
  for (const s of steps.slice(0, -1)) {
    const m = /^(\d+)([-+*])(\d+)=(\d+)(?:; ([\d+*-]+))?$/.exec(s);
    expect(m, s).not.toBeNull();
    const [a, op, b, c] = [Number(m![1]), m![2], Number(m![3]), Number(m![4])];
    expect(c).toBe({ '+': a + b, '-': a - b, '*': a * b }[op as '+' | '-' | '*']);
    expect(c).toBeGreaterThanOrEqual(0);
    expect(c).toBeLessThanOrEqual(MAX_VALUE);
    // The leftmost multiplication first, else the leftmost operation; the rest restated exactly.
    const i = chain.indexOf('*') > 0 ? chain.indexOf('*') : 1;
    expect([chain[i - 1], chain[i], chain[i + 1]]).toEqual([a, op, b]);
    chain = [...chain.slice(0, i - 1), c, ...chain.slice(i + 2)];
    expect(m![5] ?? String(c)).toBe(chain.join(''));
  }
  expect(chain).toHaveLength(1);
  expect(steps[steps.length - 1]).toBe(`The answer is \\boxed{${p.answer}}.`);
  expect(String(evaluate(p.problem))).toBe(p.answer);
}

describe('arithmetic task generator', () => {
  it('is reproducible from its seed and differs across seeds', () => {
    expect(generateProblems(7, 30, 'a')).toEqual(generateProblems(7, 30, 'a'));
    expect(generateProblems(8, 30, 'a')).not.toEqual(generateProblems(7, 30, 'a'));
  });

  it('writes the one right step at every point, each restating what is left, at every difficulty', () => {
    for (const p of generateProblems(11, 700, 'c')) checkSolution(p);
  });

  it('uses one-digit operands, all three operations, and more of them at higher levels', () => {
    const ps = generateProblems(5, 1400, 'm');
    for (const p of ps) for (const n of problemChain(p.problem)!.filter((t) => typeof t === 'number')) expect(n).toBeLessThanOrEqual(9);
    expect(ps.filter((p) => p.problem.includes('*')).length).toBeGreaterThan(ps.length / 5);
    expect(ps.filter((p) => p.problem.includes('-')).length).toBeGreaterThan(ps.length / 2);
    const ops = (d: number) => problemChain(ps.find((p) => p.difficulty === d)!.problem)!.length;
    expect(ops(7)).toBeGreaterThan(ops(1));
  });

  it('draws only the asked levels', () => {
    expect(new Set(generateProblems(3, 50, 'l', [2, 3]).map((p) => p.difficulty))).toEqual(new Set([2, 3]));
  });

  it('rejects an unknown difficulty', () => {
    expect(() => generateProblem(seededRng(1), 9, 'x')).toThrow(RangeError);
  });

  it('checks written steps against the one right next step', () => {
    const p = generateProblems(21, 7, 'k')[6];
    const steps = p.solution.split('\n\n');
    expect(checkSteps(p.problem, steps)).toEqual({ rightSteps: steps.length, solved: true });
    const wrong = [...steps];
    wrong[1] = wrong[1].replace(/=(\d+)/, (_, v) => `=${Number(v) + 1}`);
    expect(checkSteps(p.problem, wrong)).toEqual({ rightSteps: 1, solved: false });
    expect(checkSteps('Say hello.', steps)).toEqual({ rightSteps: 0, solved: false });
  });

  it('builds ChatML prompts with the Qwen2.5-Math system prompt', () => {
    expect(chatPrompt('What is 1+2?')).toBe(
      '<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 1+2?<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

describe('committed splits', () => {
  const read = (f: string): ArithmeticProblem[] =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
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
