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
