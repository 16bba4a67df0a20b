// solve / eval / bench as functions, on the bundled models through the CPU reference runner.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { solveCommand } from '../src/commands/solve.ts';
import { evalCommand, parseDataset } from '../src/commands/eval.ts';
import { searchOptionsFrom } from '../src/commands/command-options.ts';
import { benchCommand } from '../src/commands/bench.ts';
import { FormatError, OptionError } from '../src/errors.ts';

const haveModels = existsSync('models/arith-generator/model.safetensors') && existsSync('models/arith-prm/model.safetensors');
const small = { backend: 'cpu' as const, n: 4, beamWidth: 2, iterations: 3, maxStepTokens: 32, memoryMb: 16 };

describe('commands', () => {
  it.skipIf(!haveModels)('solve returns the contract JSON', async () => {
    const out = await solveCommand('Find the value of 6 - (7 - 7).', small);
    expect(Object.keys(out).sort()).toEqual(['answer', 'beams', 'metrics']);
    for (const k of ['latency_ms', 'generator_ms', 'verifier_ms', 'goodput', 'precise_goodput', 'tokens_generated', 'tokens_speculative', 'tokens_speculative_accepted', 'prefix_hit_tokens', 'recomputed_tokens', 'iterations', 'peak_kv_pages_generator', 'peak_kv_pages_verifier']) {
      expect(typeof (out.metrics as unknown as Record<string, unknown>)[k], k).toBe('number');
    }
    expect(out.beams.length).toBeGreaterThan(0);
    for (const b of out.beams) expect(Object.keys(b).sort()).toEqual(['answer', 'completed', 'score', 'text']);
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });

  it.skipIf(!haveModels)('eval scores a data set', async () => {
    const datasetText = '{"id":"a","problem":"Find the value of 6 - (7 - 7).","answer":"6"}\n{"id":"b","problem":"Compute 2 + 3.","answer":"5"}\n';
    const out = await evalCommand({ ...small, method: 'greedy', datasetText });
    expect(out.problems).toBe(2);
    expect(out.accuracy).toBeGreaterThanOrEqual(0);
    expect(out.accuracy).toBeLessThanOrEqual(1);
    expect(out.records.map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('bad input gives typed errors', async () => {
    expect(() => searchOptionsFrom({ method: 'beem' }, 1)).toThrow(OptionError);
    expect(() => searchOptionsFrom({ mode: 'fast' }, 1)).toThrow(OptionError);
    expect(() => searchOptionsFrom({ agg: 'max' }, 1)).toThrow(OptionError);
    expect(() => parseDataset('{"problem": 3}', 'x.jsonl')).toThrow(FormatError);
    expect(() => parseDataset('not json', 'x.jsonl')).toThrow(FormatError);
    await expect(evalCommand({ ...small, dataset: 'no/such/file.jsonl' })).rejects.toThrow(FormatError);
    await expect(benchCommand({ profile: 'nosuch' })).rejects.toThrow(OptionError);
  });
});
