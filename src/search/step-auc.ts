// How well a PRM tells good reasoning steps from bad ones, measured through the engine: labelled
// solutions (data/prm-heldout.jsonl: each step marked good or bad by exact checking) are scored by a
// verifier ModelRunner in the engine's own PRM input format, and the step scores are ranked by ROC AUC.
import type { PromptFormat } from './context.ts';
import type { ModelRunner } from '../runtime/types.ts';

export interface LabelledSolution {
  problem: string;
  steps: string[];
  /** One per step: true when the step is right and every step before it was. */
  labels: boolean[];
}

export interface StepAuc {
  /** All steps. */
  all: number;
  /** Good steps against the first bad step of each solution (the step a search must catch). */
  firstError: number;
  steps: number;
}

/** Area under the ROC curve: the chance a random good step outscores a random bad one (ties count half). */
export function rocAuc(scores: readonly number[], labels: readonly boolean[]): number {
  const order = scores.map((_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumGood = 0;
  let good = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1; // average rank of a run of ties
    for (let k = i; k <= j; k++)
      if (labels[order[k]]) {
        rankSumGood += rank;
        good++;
      }
    i = j + 1;
  }
  const bad = order.length - good;
  if (good === 0 || bad === 0) return NaN;
  return (rankSumGood - (good * (good + 1)) / 2) / (good * bad);
}

/**
 * Scores every step of `solutions` with `verifier` (one prefill per solution, batched up to
 * `maxBatchTokens`), in the PRM format of `format`. Returns the step scores, solution by solution.
 */
export async function scoreSolutions(
  verifier: ModelRunner,
  format: PromptFormat,
  solutions: readonly LabelledSolution[],
  maxBatchTokens: number,
  pageSize: number,
): Promise<number[][]> {
  const encoded = solutions.map((s) => {
    const ids = format.verifierPrefix(s.problem);
    const rows: number[] = [];
    for (const step of s.steps) {
      ids.push(...format.verifierStep(step));
      rows.push(ids.length - 1);
    }
    return { ids, rows };
  });
  const out: number[][] = [];
  for (let i = 0; i < encoded.length; ) {
    // A batch of whole solutions, each in its own pages from page 0 of the runner's pool.
    const chunks = [];
    let tokens = 0;
    let page = 0;
    while (i < encoded.length && (chunks.length === 0 || tokens + encoded[i].ids.length <= maxBatchTokens)) {
      const { ids, rows } = encoded[i++];
      const pages = Math.ceil(ids.length / pageSize);
      chunks.push({ blockTable: Array.from({ length: pages }, (_, p) => page + p), start: 0, tokens: ids, outputRows: rows });
      page += pages;
      tokens += ids.length;
    }
    const result = await verifier.forward({ chunks });
    let row = 0;
    for (const c of chunks) {
      out.push(Array.from(result.scores!.subarray(row, row + c.outputRows.length)));
      row += c.outputRows.length;
    }
  }
  return out;
}

/** Step-level AUCs of the scores `scoreSolutions` gave. */
export function stepAuc(solutions: readonly LabelledSolution[], scores: readonly number[][]): StepAuc {
  const all: number[] = [];
  const allLabels: boolean[] = [];
  const first: number[] = [];
  const firstLabels: boolean[] = [];
  solutions.forEach((s, i) => {
    s.labels.forEach((good, k) => {
      all.push(scores[i][k]);
      allLabels.push(good);
      if (good || k === 0 || s.labels[k - 1]) {
        first.push(scores[i][k]);
        firstLabels.push(good);
      }
    });
  });
  return { all: rocAuc(all, allLabels), firstError: rocAuc(first, firstLabels), steps: all.length };
}

/** Reads labelled solutions from JSONL ({problem, steps, labels} a line, as tools/train/train_prm.py writes them). */
export function parseLabelledSolutions(text: string): LabelledSolution[] {
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const { problem, steps, labels } = JSON.parse(line) as LabelledSolution;
      return { problem, steps, labels };
    });
}
