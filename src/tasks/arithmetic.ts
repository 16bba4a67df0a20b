// Seeded multi-step arithmetic problems for the bundled models: an expression tree of 2-8 operations,
// rendered with the parentheses it needs, and a reference solution of one operation per step
// (post-order, left to right), steps separated by a blank line, ending with the boxed answer.
import { seededRng, type Rng } from './random.ts';

export const STEP_SEPARATOR = '\n\n';
export const SYSTEM_PROMPT = 'Please reason step by step, and put your final answer within \\boxed{}.';
export const MIN_DIFFICULTY = 1;
export const MAX_DIFFICULTY = 7;

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

type Op = '+' | '-' | '*' | '/';

interface Leaf { kind: 'leaf'; value: number }
interface Node { kind: 'node'; op: Op; left: Expr; right: Expr; value: number }
type Expr = Leaf | Node;

interface Level {
  /** Largest number written in the problem. */
  leafMax: number;
  /** Largest factor allowed on the small side of a product, and largest divisor. */
  smallMax: number;
  /** Largest intermediate value. */
  cap: number;
  division: boolean;
}

/** Magnitudes grow with the level (one-digit numbers at level 1, up to three digits at level 7); the
 * operation count is difficulty + 1. Multipliers and divisors stay one-digit, so every step is a
 * computation the small bundled generator can learn yet still gets wrong sometimes when sampling. */
const LEVELS: Record<number, Level> = {
  1: { leafMax: 9, smallMax: 9, cap: 100, division: false },
  2: { leafMax: 15, smallMax: 9, cap: 150, division: false },
  3: { leafMax: 20, smallMax: 9, cap: 200, division: true },
  4: { leafMax: 30, smallMax: 9, cap: 300, division: true },
  5: { leafMax: 50, smallMax: 9, cap: 500, division: true },
  6: { leafMax: 75, smallMax: 9, cap: 750, division: true },
  7: { leafMax: 99, smallMax: 9, cap: 999, division: true },
};

const OP_WEIGHTS: Record<Op, number> = { '+': 3, '-': 3, '*': 2, '/': 1 };
const PRECEDENCE: Record<Op, number> = { '+': 1, '-': 1, '*': 2, '/': 2 };
const TEMPLATES = ['Compute {e}.', 'What is {e}?', 'Evaluate {e}.', 'Find the value of {e}.'];

function leaf(value: number): Leaf {
  return { kind: 'leaf', value };
}

function weightedPick(rng: Rng, choices: Array<[Op, () => Node]>): Node | null {
  const total = choices.reduce((s, [op]) => s + OP_WEIGHTS[op], 0);
  if (total === 0) return null;
  let r = rng.next() * total;
  for (const [op, make] of choices) {
    r -= OP_WEIGHTS[op];
    if (r < 0) return make();
  }
  return choices[choices.length - 1][1]();
}

/** How often a node's right operand is a plain number: mostly left-to-right chains (an earlier result
 * combined with the next number), sometimes a bracketed sub-expression worked out first. */
const CHAIN_PROBABILITY = 0.85;

/** A random tree of `ops` operations whose every intermediate value is an integer in [0, cap]; null to retry. */
function buildTree(rng: Rng, ops: number, lv: Level): Expr | null {
  if (ops === 0) return leaf(rng.int(1, lv.leafMax));
  const leftOps = rng.next() < CHAIN_PROBABILITY ? ops - 1 : rng.int(0, ops - 1);
  const left = buildTree(rng, leftOps, lv);
  if (!left) return null;
  const a = left.value;
  const choices: Array<[Op, () => Node]> = [];
  const node = (op: Op, right: Expr, value: number): Node => ({ kind: 'node', op, left, right, value });
  if (ops - 1 - leftOps === 0) {
    // The right operand is a number: pick it so the operation stays in range (exact division included).
    const addMax = Math.min(lv.leafMax, lv.cap - a);
    if (addMax >= 1) choices.push(['+', () => { const b = rng.int(1, addMax); return node('+', leaf(b), a + b); }]);
    const subMax = Math.min(lv.leafMax, a);
    if (subMax >= 1) choices.push(['-', () => { const b = rng.int(1, subMax); return node('-', leaf(b), a - b); }]);
    const mulMax = Math.min(lv.smallMax, Math.floor(lv.cap / Math.max(a, 1)));
    if (a > 1 && mulMax >= 2) choices.push(['*', () => { const b = rng.int(2, mulMax); return node('*', leaf(b), a * b); }]);
    if (lv.division) {
      const divisors: number[] = [];
      for (let d = 2; d <= lv.smallMax; d++) if (a % d === 0 && a / d >= 1) divisors.push(d);
      if (divisors.length > 0) choices.push(['/', () => { const d = rng.pick(divisors); return node('/', leaf(d), a / d); }]);
    }
  } else {
    const right = buildTree(rng, ops - 1 - leftOps, lv);
    if (!right) return null;
    const b = right.value;
    if (a + b <= lv.cap) choices.push(['+', () => node('+', right, a + b)]);
    if (a >= b) choices.push(['-', () => node('-', right, a - b)]);
    if (Math.min(a, b) <= lv.smallMax && a * b <= lv.cap && a > 1 && b > 1) choices.push(['*', () => node('*', right, a * b)]);
    if (lv.division && b >= 2 && b <= lv.smallMax && a % b === 0) choices.push(['/', () => node('/', right, a / b)]);
  }
  return weightedPick(rng, choices);
}

/** The expression with only the parentheses its tree needs (a same-precedence right operand is always bracketed). */
export function renderExpr(e: Expr): string {
  if (e.kind === 'leaf') return String(e.value);
  const side = (child: Expr, right: boolean): string => {
    const text = renderExpr(child);
    if (child.kind === 'leaf') return text;
    const p = PRECEDENCE[child.op];
    const q = PRECEDENCE[e.op];
    return p < q || (right && p === q) ? `(${text})` : text;
  };
  return `${side(e.left, false)} ${e.op} ${side(e.right, true)}`;
}

/** One step per operation, in post-order: "12 + 7 = 19". */
function solutionSteps(e: Expr, out: string[] = []): string[] {
  if (e.kind === 'leaf') return out;
  solutionSteps(e.left, out);
  solutionSteps(e.right, out);
  out.push(`${e.left.value} ${e.op} ${e.right.value} = ${e.value}`);
  return out;
}

export function finalStep(answer: string): string {
  return `The answer is \\boxed{${answer}}.`;
}

/** One problem of the given difficulty, drawn from `rng`. */
export function generateProblem(rng: Rng, difficulty: number, id: string): ArithmeticProblem {
  const lv = LEVELS[difficulty];
  if (!lv) throw new RangeError(`difficulty must be ${MIN_DIFFICULTY}..${MAX_DIFFICULTY}, got ${difficulty}`);
  for (;;) {
    const tree = buildTree(rng, difficulty + 1, lv);
    if (!tree) continue;
    const answer = String(tree.value);
    const problem = rng.pick(TEMPLATES).replace('{e}', renderExpr(tree));
    const solution = [...solutionSteps(tree), finalStep(answer)].join(STEP_SEPARATOR);
    return { id, problem, answer, difficulty, solution };
  }
}

/** `count` problems, difficulties cycling 1..7, reproducible from `seed`. */
export function generateProblems(seed: number, count: number, idPrefix: string): ArithmeticProblem[] {
  const rng = seededRng(seed);
  const out: ArithmeticProblem[] = [];
  for (let i = 0; i < count; i++) {
    const difficulty = MIN_DIFFICULTY + (i % (MAX_DIFFICULTY - MIN_DIFFICULTY + 1));
    out.push(generateProblem(rng, difficulty, `${idPrefix}-${i}`));
  }
  return out;
}

/** The ChatML prompt with the Qwen2.5-Math system prompt, ending where the assistant's answer starts. */
export function chatPrompt(problem: string): string {
  return `<|im_start|>system\n${SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n${problem}<|im_end|>\n<|im_start|>assistant\n`;
}
