// Final answers: extraction from the last \boxed{...}, normalisation so that equivalent answers compare
// equal (0.5 and \frac{1}{2}, "10^\circ" and "10", "1,000" and "1000"), and the three selection rules
// over completed beams: top-1 by PRM score, majority vote, PRM-weighted majority vote.
import { OptionError } from '../errors.ts';

/** The content of the last `\boxed{...}` (or `\fbox{...}`) in `text`, braces balanced; null if none. */
export function extractBoxed(text: string): string | null {
  let found: string | null = null;
  const re = /\\(?:boxed|fbox)\s*\{/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let depth = 1;
    let i = m.index + m[0].length;
    const start = i;
    for (; i < text.length && depth > 0; i++) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}') depth--;
    }
    if (depth === 0) found = text.slice(start, i - 1);
  }
  return found;
}

/** Unwraps `\cmd{x}` to `x` for every occurrence (one level of braces inside is allowed). */
function unwrapCommand(s: string, cmd: string): string {
  const re = new RegExp(`\\\\${cmd}\\s*\\{((?:[^{}]|\\{[^{}]*\\})*)\\}`, 'g');
  let prev: string;
  do {
    prev = s;
    s = s.replace(re, '$1');
  } while (s !== prev);
  return s;
}

const UNIT_WORDS =
  /\b(?:units?|degrees?|cm|centimeters?|meters?|m|km|kilometers?|inch(?:es)?|feet|foot|ft|miles?|hours?|minutes?|seconds?|dollars?|cents?|sq|square|cubic|mph|kg|grams?|g|pounds?|lbs?|percent|points?|days?|years?|people|students?)\b/g;

/**
 * A canonical string for an answer: LaTeX noise removed, fractions and decimals turned into one exact
 * numeric form when the answer is a number, so that equal values give equal strings.
 */
export function normalizeAnswer(raw: string): string {
  let s = raw.trim();
  s = s.replace(/\\[dt]frac/g, '\\frac');
  s = s.replace(/\\left|\\right|\\!|\\,|\\;|\\:|\\ /g, '');
  s = unwrapCommand(s, 'text');
  s = unwrapCommand(s, 'textbf');
  s = unwrapCommand(s, 'mathrm');
  s = unwrapCommand(s, 'mbox');
  s = s.replace(/\^\s*\{?\\circ\}?|°/g, '');
  s = s.replace(/\\%|%|\\\$|\$/g, '');
  s = s.replace(/^\s*[a-zA-Z]\s*=\s*/, ''); // "x = 5" -> "5"
  s = s.replace(UNIT_WORDS, '');
  s = s.replace(/\s+/g, '');
  s = s.replace(/\.$/, '');
  // "1,000,000" -> "1000000" (a comma between digit groups of three only).
  if (/^-?\d{1,3}(,\d{3})+(\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  const value = numericValue(s);
  return value === null ? s : formatRational(value);
}

/** An exact rational [numerator, denominator] (denominator > 0, reduced), or null. */
type Rational = [bigint, bigint];

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function reduce(n: bigint, d: bigint): Rational | null {
  if (d === 0n) return null;
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d) || 1n;
  return [n / g, d / g];
}

function parseDecimal(s: string): Rational | null {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const frac = m[3] ?? '';
  const n = BigInt((m[2] || '0') + frac) * (m[1] === '-' ? -1n : 1n);
  return reduce(n, 10n ** BigInt(frac.length));
}

/** Value of integers, decimals, a/b, \frac{a}{b}, \frac ab and -\frac{a}{b}; null for anything else. */
function numericValue(s: string): Rational | null {
  const dec = parseDecimal(s);
  if (dec) return dec;
  let m = /^([+-]?)\\frac\{([^{}]+)\}\{([^{}]+)\}$/.exec(s) ?? /^([+-]?)\\frac(\d)(\d)$/.exec(s);
  if (!m) m = /^([+-]?)\(?([+-]?[\d.]+)\)?\/\(?([+-]?[\d.]+)\)?$/.exec(s);
  if (!m) return null;
  const a = parseDecimal(m[2]);
  const b = parseDecimal(m[3]);
  if (!a || !b || b[0] === 0n) return null;
  const r = reduce(a[0] * b[1], a[1] * b[0]);
  if (r && m[1] === '-') r[0] = -r[0];
  return r;
}

/** Integers print as integers, terminating decimals as decimals, everything else as "a/b". */
function formatRational([n, d]: Rational): string {
  if (d === 1n) return n.toString();
  let rest = d;
  let twos = 0;
  let fives = 0;
  while (rest % 2n === 0n) {
    rest /= 2n;
    twos++;
  }
  while (rest % 5n === 0n) {
    rest /= 5n;
    fives++;
  }
  if (rest !== 1n) return `${n}/${d}`;
  const digits = Math.max(twos, fives);
  const scaled = (n * 10n ** BigInt(digits)) / d;
  const neg = scaled < 0n;
  const abs = (neg ? -scaled : scaled).toString().padStart(digits + 1, '0');
  return `${neg ? '-' : ''}${abs.slice(0, abs.length - digits)}.${abs.slice(abs.length - digits).replace(/0+$/, '')}`;
}

/** True when the two answers are the same after normalisation. */
export function answersEqual(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return false;
  return normalizeAnswer(a) === normalizeAnswer(b);
}

export type SelectionRule = 'top1' | 'majority' | 'weighted';

export function parseSelectionRule(s: string): SelectionRule {
  if (s === 'top1' || s === 'majority' || s === 'weighted') return s;
  throw new OptionError(`--select must be top1, majority or weighted, got "${s}"`);
}

export interface Candidate {
  /** Extracted answer (raw, as in \boxed{}), or null when the beam has none. */
  answer: string | null;
  /** The beam's aggregated PRM score (ignored by majority). */
  score: number;
}

/**
 * Picks the final answer (raw form of the first candidate holding the winning normalised answer).
 * Beams without an answer take part only when no beam has one. Ties go to the answer seen first.
 */
export function selectAnswer(candidates: readonly Candidate[], rule: SelectionRule): string | null {
  const withAnswer = candidates.filter((c) => c.answer !== null);
  if (withAnswer.length === 0) return null;
  if (rule === 'top1') {
    let best = withAnswer[0];
    for (const c of withAnswer) if (c.score > best.score) best = c;
    return best.answer;
  }
  const tally = new Map<string, { weight: number; raw: string }>();
  for (const c of withAnswer) {
    const key = normalizeAnswer(c.answer!);
    const entry = tally.get(key) ?? { weight: 0, raw: c.answer! };
    entry.weight += rule === 'majority' ? 1 : c.score;
    tally.set(key, entry);
  }
  let best: { weight: number; raw: string } | null = null;
  for (const e of tally.values()) if (!best || e.weight > best.weight) best = e;
  return best!.raw;
}
