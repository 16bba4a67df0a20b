// "Greedy against search": fresh problems of the bundled task (any seed), each solved once greedily and
// once with the current search settings, side by side, with the accuracy of each: where the learner sees
// what test-time scaling buys.
import type { Engine, SolveOptions, SolveResult } from '../src/api/index.ts';
import { answersEqual } from '../src/search/answer.ts';
import { generateProblems, type ArithmeticProblem } from '../src/tasks/arithmetic.ts';

export interface BatchRow {
  problem: ArithmeticProblem;
  greedy?: SolveResult;
  search?: SolveResult;
}

export interface BatchTally {
  done: number;
  greedyRight: number;
  searchRight: number;
}

export function freshProblems(seed: number, count: number): ArithmeticProblem[] {
  return generateProblems(seed, count, `batch${seed}`);
}

export function isRight(result: SolveResult | undefined, problem: ArithmeticProblem): boolean {
  return result !== undefined && answersEqual(result.answer, problem.answer);
}

export function tally(rows: BatchRow[]): BatchTally {
  const done = rows.filter((r) => r.search !== undefined);
  return {
    done: done.length,
    greedyRight: done.filter((r) => isRight(r.greedy, r.problem)).length,
    searchRight: done.filter((r) => isRight(r.search, r.problem)).length,
  };
}

/** Solves every problem greedily and with `search`, one call at a time, calling `onRow` after each solve. */
export async function runBatch(engine: Engine, rows: BatchRow[], search: SolveOptions, signal: AbortSignal, onRow: () => void): Promise<void> {
  for (const row of rows) {
    row.greedy = await engine.solve(row.problem.problem, { ...search, method: 'greedy', n: 1 }, { signal });
    onRow();
    row.search = await engine.solve(row.problem.problem, search, { signal });
    onRow();
  }
}

const percent = (k: number, n: number) => (n === 0 ? '–' : `${Math.round((100 * k) / n)}%`);

function cell(result: SolveResult | undefined, problem: ArithmeticProblem): HTMLTableCellElement {
  const td = document.createElement('td');
  if (!result) {
    td.textContent = '…';
    td.className = 'muted';
    return td;
  }
  const right = isRight(result, problem);
  td.textContent = `${right ? '✓' : '✗'} ${result.answer ?? 'none'}`;
  td.className = right ? 'correct' : 'wrong';
  return td;
}

/** The table's rows and the summary line: "greedy 4/10 (40%) · beam search n = 16: 7/10 (70%)". */
export function renderBatch(table: HTMLTableSectionElement, summary: HTMLElement, rows: BatchRow[], searchLabel: string): void {
  table.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr');
      const problem = document.createElement('td');
      problem.textContent = row.problem.problem;
      const answer = document.createElement('td');
      answer.textContent = row.problem.answer;
      tr.append(problem, answer, cell(row.greedy, row.problem), cell(row.search, row.problem));
      return tr;
    }),
  );
  const t = tally(rows);
  summary.textContent =
    t.done === 0
      ? ''
      : `${t.done} of ${rows.length} problems: greedy ${t.greedyRight}/${t.done} (${percent(t.greedyRight, t.done)}) · ` +
        `${searchLabel} ${t.searchRight}/${t.done} (${percent(t.searchRight, t.done)})`;
  summary.dataset.greedy = String(t.greedyRight);
  summary.dataset.search = String(t.searchRight);
  summary.dataset.done = String(t.done);
}
