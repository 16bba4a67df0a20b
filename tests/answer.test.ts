import { describe, expect, it } from 'vitest';
import { answersEqual, extractBoxed, normalizeAnswer, selectAnswer, parseSelectionRule } from '../src/search/answer.ts';
import { OptionError } from '../src/errors.ts';

describe('answer extraction and normalisation', () => {
  it('takes the last balanced \\boxed{}', () => {
    expect(extractBoxed('so \\boxed{3} then \\boxed{\\frac{1}{2}}.')).toBe('\\frac{1}{2}');
    expect(extractBoxed('The answer is \\boxed{ {a}+{b} }')).toBe(' {a}+{b} ');
    expect(extractBoxed('no box')).toBeNull();
    expect(extractBoxed('\\boxed{unclosed')).toBeNull();
  });

  it('makes equal values compare equal', () => {
    const same: Array<[string, string]> = [
      ['0.5', '\\frac{1}{2}'],
      ['\\dfrac{1}{2}', '1/2'],
      ['-\\frac{3}{4}', '-0.75'],
      ['10^\\circ', '10'],
      ['10^{\\circ}', '10 degrees'],
      ['1,000', '1000'],
      ['\\text{5 cm}', '5'],
      ['x = 7', '7'],
      ['3.0', '3'],
      ['\\$12', '12'],
      ['50\\%', '50'],
      ['\\frac12', '0.5'],
      [' 42 ', '42'],
    ];
    for (const [a, b] of same) expect(answersEqual(a, b), `${a} vs ${b}`).toBe(true);
    expect(answersEqual('\\frac{1}{3}', '0.33')).toBe(false);
    expect(answersEqual('2', '-2')).toBe(false);
    expect(answersEqual(null, '2')).toBe(false);
    expect(normalizeAnswer('\\frac{2}{6}')).toBe('1/3');
    expect(normalizeAnswer('\\left( 1, 2 \\right)')).toBe('(1,2)');
  });

  it('selects by top-1, majority and PRM-weighted majority', () => {
    const c = [
      { answer: '5', score: 0.9 },
      { answer: '7', score: 0.3 },
      { answer: '7.0', score: 0.3 },
      { answer: null, score: 1 },
    ];
    expect(selectAnswer(c, 'top1')).toBe('5');
    expect(selectAnswer(c, 'majority')).toBe('7');
    expect(selectAnswer(c, 'weighted')).toBe('5');
    expect(
      selectAnswer(
        [
          { answer: '7', score: 0.5 },
          { answer: '\\frac{14}{2}', score: 0.5 },
          { answer: '5', score: 0.9 },
        ],
        'weighted',
      ),
    ).toBe('7');
    expect(selectAnswer([{ answer: null, score: 1 }], 'top1')).toBeNull();
    expect(() => parseSelectionRule('best')).toThrow(OptionError);
  });
});
