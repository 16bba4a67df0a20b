// The command layer's option and data-set parsing: bad input becomes a typed error. (solve / eval end to
// end on the bundled models: tests/cli-solve.test.ts.)
import { describe, expect, it } from 'vitest';
import { parseDataset } from '../src/commands/eval.ts';
import { benchCostModel } from '../src/commands/bench.ts';
import { solveOptionsFrom } from '../src/commands/solve-cli.ts';
import { FormatError, OptionError } from '../src/errors.ts';

describe('command options', () => {
  it('solve options follow the command-line contract', () => {
    const o = solveOptionsFrom({ method: 'dvts', n: '16', 'beam-width': '4', agg: 'min', select: 'majority', mode: 'baseline', seed: '9' });
    expect(o).toMatchObject({ method: 'dvts', n: 16, beamWidth: 4, agg: 'min', select: 'majority', mode: 'baseline', seed: 9 });
    expect(solveOptionsFrom({ method: 'greedy' }).n).toBe(1);
  });

  it('bad input gives typed errors', async () => {
    expect(() => solveOptionsFrom({ method: 'beem' })).toThrow(OptionError);
    expect(() => solveOptionsFrom({ mode: 'fast' })).toThrow(OptionError);
    expect(() => solveOptionsFrom({ agg: 'max' })).toThrow(OptionError);
    expect(() => solveOptionsFrom({ n: '0' })).toThrow(OptionError);
    expect(() => solveOptionsFrom({ n: '6', 'beam-width': '4' })).toThrow(OptionError);
    expect(() => parseDataset('{"problem": 3}', 'x.jsonl')).toThrow(FormatError);
    expect(() => parseDataset('not json', 'x.jsonl')).toThrow(FormatError);
    expect(() => parseDataset('', 'x.jsonl')).toThrow(FormatError);
    expect(parseDataset('{"problem":"p","answer":3}\n{"problem":"q","answer":"4"}', 'x.jsonl', 1)).toEqual([{ id: '0', problem: 'p', answer: '3' }]);
    await expect(benchCostModel({ profile: 'nosuch' })).rejects.toThrow(OptionError);
  });
});
