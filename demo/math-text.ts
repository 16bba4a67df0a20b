// Renders a solution's text as mathematics with KaTeX: $…$, $$…$$, \(…\), \[…\] segments, bare \boxed{…}
// and lines that are pure arithmetic ("12 * 7 = 84", what the bundled model writes) become typeset
// math; the rest stays text. KaTeX errors fall back to the raw text, never to a broken page.
import katex from 'katex';

const DELIMITED = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|\$([^$]+?)\$|(\\boxed\s*\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\})/g;
const ARITHMETIC_LINE = /^[\d\s+\-*/×÷=().,^]+$/;

function tex(source: string, displayMode: boolean): string {
  const latex = source.replace(/\*/g, '\\times ').replace(/(\d)\s*\/\s*(\d)/g, '$1 \\div $2');
  return katex.renderToString(latex, { displayMode, throwOnError: false, strict: 'ignore', output: 'htmlAndMathml' });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** HTML for one line of text with its math typeset. */
export function renderMathLine(line: string): string {
  if (ARITHMETIC_LINE.test(line.trim()) && /\d/.test(line)) return tex(line.trim(), false);
  let html = '';
  let last = 0;
  for (const m of line.matchAll(DELIMITED)) {
    html += escapeHtml(line.slice(last, m.index));
    const [, display1, display2, inline1, inline2, boxed] = m;
    html += (display1 ?? display2) ? tex((display1 ?? display2)!, true) : tex((inline1 ?? inline2 ?? boxed)!, false);
    last = m.index! + m[0].length;
  }
  return html + escapeHtml(line.slice(last));
}

/** HTML for a multi-step solution: one paragraph per step (steps are separated by blank lines). */
export function renderSolution(text: string): string {
  return text
    .split(/\n\s*\n/)
    .filter((step) => step.trim())
    .map((step) => `<p class="step">${step.split('\n').map(renderMathLine).join('<br>')}</p>`)
    .join('');
}

/** HTML for a final answer (the \boxed{} content). */
export function renderAnswer(answer: string): string {
  return tex(answer, true);
}
