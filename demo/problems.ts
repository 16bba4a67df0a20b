// Problems the tutor offers: synthetic multi-step arithmetic (what the bundled models were trained on;
// generated here with a fixed seed, one per difficulty level) and, once a real Qwen2.5-Math model is
// loaded, MATH-500, AIME 2024 and AMC 2023 from the build's datasets/competition.json (fetched lazily).
import { generateProblems } from '../src/tasks/arithmetic.ts';

export interface ExampleProblem {
  id: string;
  label: string;
  problem: string;
  /** Reference answer (\boxed{} content), to tell the learner whether the search got it right. */
  answer: string;
}

/** Seed of the examples' pool: fixed so the tutor, its tests and its screenshots show the same problems. */
export const EXAMPLES_SEED = 5;
/** The pool: 10 problems per level, in level order 1-7 repeating. */
const EXAMPLE_POOL_SIZE = 70;
/**
 * One example per level, the first of the pool's problems of that level that the default search (beam, n = 16,
 * width 4) solves in Node: the first five and, for levels 6 and 7, the 4th and 2nd of their level (pool
 * indices 26 and 13). Greedy solves 4 of the 7 (not levels 2, 6, 7), so the examples show what search adds;
 * the batch section measures it on fresh problems without picking.
 */
const EXAMPLE_PICKS = [0, 1, 2, 3, 4, 26, 13];

export function syntheticExamples(): ExampleProblem[] {
  const pool = generateProblems(EXAMPLES_SEED, EXAMPLE_POOL_SIZE, 'example');
  return EXAMPLE_PICKS.map((i) => pool[i]).map((p) => ({
    id: p.id,
    label: `Arithmetic, ${p.difficulty + 1} steps: ${p.problem}`,
    problem: p.problem,
    answer: p.answer,
  }));
}

const SET_NAMES: Record<string, string> = { math500: 'MATH-500', aime24: 'AIME 2024', amc23: 'AMC 2023' };

export async function competitionProblems(): Promise<ExampleProblem[]> {
  const response = await fetch(new URL('datasets/competition.json', document.baseURI));
  if (!response.ok) return [];
  const sets = (await response.json()) as Record<string, Array<{ id: string; problem: string; answer: string }>>;
  return Object.entries(sets).flatMap(([set, problems]) =>
    problems.map((p) => ({
      id: p.id,
      label: `${SET_NAMES[set] ?? set} ${p.id.replace(/^\D+-/, '#')}: ${p.problem.slice(0, 90)}${p.problem.length > 90 ? '…' : ''}`,
      problem: p.problem,
      answer: p.answer,
    })),
  );
}
