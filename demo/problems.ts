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

/**
 * Seed of the examples: fixed so the tutor, its tests and its screenshots show the same problems. Of these 7,
 * the default search (beam, n = 4, width 2) solves 4 in Node and greedy 3 (the 6th: search right, greedy wrong).
 */
export const EXAMPLES_SEED = 1;

export function syntheticExamples(): ExampleProblem[] {
  return generateProblems(EXAMPLES_SEED, 7, 'example').map((p) => ({
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
