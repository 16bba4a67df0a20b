// `fasttts eval`: a JSONL problem set ({problem, answer} per line) through `solve`, with accuracy.
import { FormatError } from '../errors.ts';
import { answersEqual } from '../search/answer.ts';
import type { SearchEnv, SearchOptions } from '../search/context.ts';
import { solve, type SolveOutput } from './solve.ts';

export interface EvalProblem {
  id: string;
  problem: string;
  answer: string;
}

export interface EvalOutput {
  accuracy: number;
  problems: number;
  latency_ms_median: number;
  records: Array<{ id: string; reference: string; answer: string | null; correct: boolean; metrics: SolveOutput['metrics'] }>;
}

/** Parses a JSONL data set; each line needs a string "problem" and an "answer". */
export function parseDataset(text: string, file: string, limit = Infinity): EvalProblem[] {
  const out: EvalProblem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && out.length < limit; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new FormatError(file, `line ${i + 1} is not JSON`);
    }
    const r = row as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || typeof r.problem !== 'string' || (typeof r.answer !== 'string' && typeof r.answer !== 'number')) {
      throw new FormatError(file, `line ${i + 1} needs a string "problem" and an "answer"`);
    }
    out.push({ id: typeof r.id === 'string' ? r.id : String(out.length), problem: r.problem, answer: String(r.answer) });
  }
  if (out.length === 0) throw new FormatError(file, 'no problems');
  return out;
}

/** Solves each problem with a fresh environment from `makeEnv` (or a shared one) and scores the answers. */
export async function evaluate(makeEnv: () => Promise<SearchEnv> | SearchEnv, options: SearchOptions, problems: EvalProblem[]): Promise<EvalOutput> {
  const records: EvalOutput['records'] = [];
  for (const p of problems) {
    const r = await solve(await makeEnv(), options, p.problem);
    records.push({ id: p.id, reference: p.answer, answer: r.answer, correct: answersEqual(r.answer, p.answer), metrics: r.metrics });
  }
  const lat = records.map((r) => r.metrics.latency_ms).sort((a, b) => a - b);
  const mid = lat.length >> 1;
  return {
    accuracy: records.filter((r) => r.correct).length / records.length,
    problems: records.length,
    latency_ms_median: lat.length % 2 ? lat[mid] : (lat[mid - 1] + lat[mid]) / 2,
    records,
  };
}

/** `fasttts eval` with parsed options: the data set (default: the bundled test split), up to `limit` problems. */
export async function evalCommand(o: import('./command-options.ts').SearchCommandOptions & { dataset?: string; limit?: number; datasetText?: string }): Promise<EvalOutput> {
  const { openCommandModels, searchOptionsFrom } = await import('./command-options.ts');
  const file = o.dataset ?? 'data/arith-test.jsonl';
  let text = o.datasetText;
  if (text === undefined) {
    try {
      text = await (await import('node:fs/promises')).readFile(file, 'utf8');
    } catch (e) {
      throw new FormatError(file, `cannot read: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const problems = parseDataset(text, file, o.limit ?? Infinity);
  const method = o.method ?? 'beam';
  const { models, speculationBatch } = await openCommandModels(o, method === 'best-of-n' || method === 'beam' || method === 'dvts');
  try {
    return await evaluate(() => models.makeEnv(), searchOptionsFrom(o, speculationBatch), problems);
  } finally {
    models.dispose();
  }
}
