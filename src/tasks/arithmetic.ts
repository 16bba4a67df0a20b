// Seeded arithmetic problems for the bundled models: a flat chain of 2-8 operations (+, -, *) over one-digit
// operands, every value met while reducing it in 0..20. The reference solution reduces the leftmost `*`
// first (else the leftmost operation), one operation per step, and restates what is left after it
// (`4*5=20; 3+20-2`), so neither model has to track which parts were already reduced and every step has
// exactly one right form. Steps are separated by a blank line; the last one gives the boxed answer.
import { seededRng, type Rng } from './random.ts';

export const STEP_SEPARATOR = '\n\n';
export const SYSTEM_PROMPT = 'Please reason step by step, and put your final answer within \\boxed{}.';
export const MIN_DIFFICULTY = 1;
export const MAX_DIFFICULTY = 7;
/** Every operand, product and running value lies in 0..MAX_VALUE: about 500 arithmetic facts in all. */
export const MAX_VALUE = 20;

export interface ArithmeticProblem {
  id: string;
  problem: string;
  /** The final answer as it appears inside \boxed{}. */
  answer: string;
  /** 1..7; the problem has difficulty + 1 operations. */
  difficulty: number;
  /** The reference solution: one operation per step, steps joined by STEP_SEPARATOR. */
  solution: string;
}

export type Op = '+' | '-' | '*';
/** An expression as the chain it is written as: numbers at even indices, operations at odd ones. */
export type Chain = Array<number | Op>;

const OP_WEIGHTS: Array<[Op, number]> = [
  ['+', 3],
  ['-', 3],
  ['*', 2],
];
const TEMPLATES = ['Compute {e}.', 'What is {e}?', 'Evaluate {e}.', 'Find the value of {e}.'];

export function renderChain(chain: Chain): string {
  return chain.join('');
}

/** Parses `3+4*5-2` (spaces allowed); null when it is not a chain of numbers and + - *. */
export function parseChain(text: string): Chain | null {
  const m = text.replace(/\s+/g, '').match(/^\d+(?:[-+*]\d+)*$/);
  if (!m) return null;
  return (m[0].match(/\d+|[-+*]/g) ?? []).map((t, i) => (i % 2 === 0 ? Number(t) : (t as Op)));
}

/** The expression of a problem text ("Compute 3+4*5-2." -> its chain). */
export function problemChain(problem: string): Chain | null {
  const m = problem.match(/\d[\d\s+*-]*\d|\d/);
  return m ? parseChain(m[0]) : null;
}

function apply(a: number, op: Op, b: number): number {
  return op === '+' ? a + b : op === '-' ? a - b : a * b;
}

/** The one right next step of a chain of two or more numbers: its text and the chain left after it. */
export function nextStep(chain: Chain): { text: string; rest: Chain } {
  const star = chain.indexOf('*');
  const i = star > 0 ? star : 1;
  const [a, op, b] = [chain[i - 1] as number, chain[i] as Op, chain[i + 1] as number];
  const value = apply(a, op, b);
  const rest: Chain = [...chain.slice(0, i - 1), value, ...chain.slice(i + 2)];
  const text = `${a}${op}${b}=${value}` + (rest.length > 1 ? `; ${renderChain(rest)}` : '');
  return { text, rest };
}

export function finalStep(answer: string): string {
  return `The answer is \\boxed{${answer}}.`;
}

/** The reference solution of a chain: one step per operation, then the boxed answer, and that answer. */
function solve(chain: Chain): { steps: string[]; answer: string } {
  const steps: string[] = [];
  let rest = chain;
  while (rest.length > 1) {
    const s = nextStep(rest);
    steps.push(s.text);
    rest = s.rest;
  }
  const answer = String(rest[0]);
  return { steps: [...steps, finalStep(answer)], answer };
}

/** The reference steps of a chain: one per operation, then the boxed answer. */
export function solutionSteps(chain: Chain): string[] {
  return solve(chain).steps;
}

/** True when reducing the chain keeps every value (products and running values) in 0..MAX_VALUE. */
function inRange(chain: Chain): boolean {
  let rest = chain;
  while (rest.length > 1) {
    rest = nextStep(rest).rest;
    if ((rest as number[]).some((v, i) => i % 2 === 0 && (v < 0 || v > MAX_VALUE))) return false;
  }
  return true;
}

function pickOp(rng: Rng): Op {
  let r = rng.next() * OP_WEIGHTS.reduce((s, [, w]) => s + w, 0);
  for (const [op, w] of OP_WEIGHTS) if ((r -= w) < 0) return op;
  return '+';
}

/** A chain of `ops` operations, drawn until its reduction stays in range. Factors of a product are 2-9. */
function drawChain(rng: Rng, ops: number): Chain {
  for (;;) {
    const opList = Array.from({ length: ops }, () => pickOp(rng));
    const chain: Chain = [];
    for (let i = 0; i <= ops; i++) {
      const inProduct = opList[i - 1] === '*' || opList[i] === '*';
      chain.push(rng.int(inProduct ? 2 : 1, 9));
      if (i < ops) chain.push(opList[i]);
    }
    if (inRange(chain)) return chain;
  }
}

/** One problem of the given difficulty, drawn from `rng`. */
export function generateProblem(rng: Rng, difficulty: number, id: string): ArithmeticProblem {
  if (!Number.isInteger(difficulty) || difficulty < MIN_DIFFICULTY || difficulty > MAX_DIFFICULTY) {
    throw new RangeError(`difficulty must be ${MIN_DIFFICULTY}..${MAX_DIFFICULTY}, got ${difficulty}`);
  }
  const chain = drawChain(rng, difficulty + 1);
  const { steps, answer } = solve(chain);
  const problem = rng.pick(TEMPLATES).replace('{e}', renderChain(chain));
  return { id, problem, answer, difficulty, solution: steps.join(STEP_SEPARATOR) };
}

/** `count` problems, difficulties cycling over `levels` (default 1..7), reproducible from `seed`. */
export function generateProblems(seed: number, count: number, idPrefix: string, levels: readonly number[] = [1, 2, 3, 4, 5, 6, 7]): ArithmeticProblem[] {
  const rng = seededRng(seed);
  return Array.from({ length: count }, (_, i) => generateProblem(rng, levels[i % levels.length], `${idPrefix}-${i}`));
}

/**
 * How far a written solution is right: the number of its leading steps that equal the reference steps
 * (the one right next step at each point), and whether it ends with the right boxed answer after them.
 */
export function checkSteps(problem: string, steps: readonly string[]): { rightSteps: number; solved: boolean } {
  const chain = problemChain(problem);
  if (!chain) return { rightSteps: 0, solved: false };
  const reference = solutionSteps(chain);
  let rightSteps = 0;
  while (rightSteps < steps.length && rightSteps < reference.length && steps[rightSteps].trim() === reference[rightSteps]) rightSteps++;
  return { rightSteps, solved: rightSteps === reference.length };
}

/** The ChatML prompt with the Qwen2.5-Math system prompt, ending where the assistant's answer starts. */
export function chatPrompt(problem: string): string {
  return `<|im_start|>system\n${SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n${problem}<|im_end|>\n<|im_start|>assistant\n`;
}
