// The tutor's pure parts: the search tree rebuilt from engine events, and solution text typeset as math.
import { describe, expect, it } from 'vitest';
import { SearchTree } from '../demo/tree-model.ts';
import { renderAnswer, renderMathLine, renderSolution } from '../demo/math-text.ts';

describe('SearchTree', () => {
  it('builds branches, marks speculation, pruning and completion from events', () => {
    const t = new SearchTree();
    t.apply({ type: 'beam-created', beam: 1, parent: null, iteration: 0 });
    t.apply({ type: 'beam-extended', beam: 1, text: '12 + 7 = 19\n\n', tokens: 6, speculative: false });
    t.apply({ type: 'beam-extended', beam: 1, text: '19 * 2', tokens: 3, speculative: true });
    expect(t.nodes.get(1)!.spans).toEqual([
      { text: '12 + 7 = 19\n\n', speculative: false },
      { text: '19 * 2', speculative: true },
    ]);
    t.apply({ type: 'beam-rewritten', beam: 1, text: '12 + 7 = 19\n\n' });
    t.apply({ type: 'beam-created', beam: 2, parent: 1, iteration: 1 });
    t.apply({ type: 'beam-created', beam: 3, parent: 1, iteration: 1 });
    expect(t.nodes.get(1)!.state).toBe('expanded');
    expect(t.nodes.get(1)!.children).toEqual([2, 3]);
    t.apply({ type: 'beam-extended', beam: 2, text: 'The answer is \\boxed{38}.', tokens: 9, speculative: false });
    t.apply({ type: 'beam-scored', beam: 2, stepScore: 0.9, score: 0.9 });
    t.apply({ type: 'beam-completed', beam: 2, answer: '38', score: 0.9 });
    t.apply({ type: 'beam-pruned', beam: 3 });
    expect(t.nodes.get(2)).toMatchObject({ state: 'completed', answer: '38', score: 0.9 });
    expect(t.nodes.get(3)!.state).toBe('pruned');
    expect(t.fullText(2)).toBe('12 + 7 = 19\n\nThe answer is \\boxed{38}.');
    expect(t.roots).toEqual([1]);
  });
});

describe('math text', () => {
  it('typesets arithmetic lines, delimited math and \\boxed{}, and escapes the rest', () => {
    expect(renderMathLine('12 * 7 = 84')).toContain('class="katex"');
    expect(renderMathLine('12 * 7 = 84')).toContain('×');
    const mixed = renderMathLine('So $x^2$ is <b> and \\boxed{\\frac{1}{2}}.');
    expect(mixed.match(/class="katex"/g)).toHaveLength(2);
    expect(mixed).toContain('&#60;b&#62;');
    expect(renderSolution('1 + 1 = 2\n\nThe answer is \\boxed{2}.').match(/<p class="step">/g)).toHaveLength(2);
    expect(renderAnswer('\\frac{3}{4}')).toContain('katex-display');
  });

  it('shows malformed LaTeX as text instead of failing', () => {
    expect(() => renderMathLine('$\\frac{1}{$')).not.toThrow();
  });
});
