// Step-level AUC, the PRM quality figure of the README: the rank statistic itself, and the bundled PRM
// measured through the engine on held-out labelled steps (data/prm-heldout.jsonl; the README's figure
// comes from all of it, `node tools/prm-auc.mjs`; here 40 solutions spread over all levels keep it short).
import { describe, expect, it } from 'vitest';
import { measurePrmQuality } from '../src/commands/prm-quality.ts';
import { rocAuc, stepAuc } from '../src/search/step-auc.ts';

describe('step AUC', () => {
  it('is the chance a good step outscores a bad one, ties counting half', () => {
    expect(rocAuc([0.9, 0.8, 0.1, 0.2], [true, true, false, false])).toBe(1);
    expect(rocAuc([0.1, 0.2, 0.9, 0.8], [true, true, false, false])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5], [true, false, true])).toBe(0.5);
    expect(rocAuc([0.3, 0.7, 0.5, 0.6], [true, true, false, false])).toBe(0.5);
    expect(rocAuc([1, 2], [true, true])).toBeNaN();
  });

  it('first-error AUC keeps good steps and the first bad step of each solution only', () => {
    const solutions = [{ problem: 'p', steps: ['a', 'b', 'c'], labels: [true, false, false] }];
    // The step after the first error scores highest: it is left out of the first-error AUC.
    expect(stepAuc(solutions, [[0.6, 0.4, 0.9]])).toEqual({ all: 0.5, firstError: 1, steps: 3 });
  });

  it('the bundled PRM ranks held-out good steps above wrong ones (AUC at least 0.85)', async () => {
    const auc = await measurePrmQuality('models/arith-prm', 'models/arith-generator', 'data/prm-heldout.jsonl', 40);
    expect(auc.steps).toBeGreaterThan(100);
    expect(auc.all).toBeGreaterThanOrEqual(0.85);
  });
});
