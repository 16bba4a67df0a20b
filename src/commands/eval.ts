// `fasttts eval`: the JSONL problem sets it reads ({problem, answer, optional id and difficulty} per line).
import { FormatError } from '../errors.ts';

export interface EvalProblem {
  id: string;
  problem: string;
  answer: string;
  /** The data set's difficulty label, when it has one (the arithmetic splits: 1..7). */
  difficulty?: number;
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
    const difficulty = typeof r.difficulty === 'number' ? r.difficulty : undefined;
    out.push({
      id: typeof r.id === 'string' ? r.id : String(out.length),
      problem: r.problem,
      answer: String(r.answer),
      ...(difficulty === undefined ? {} : { difficulty }),
    });
  }
  if (out.length === 0) throw new FormatError(file, 'no problems');
  return out;
}
