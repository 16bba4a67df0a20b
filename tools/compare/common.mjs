// Shared bits of the comparison scripts: where the outside install lives, the fixed prompts, medians.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The npm prefix tools/compare/install.sh installs into (never the project's own node_modules). */
export const PREFIX = process.env.COMPARE_PREFIX ?? join(homedir(), '.cache', 'fasttts-compare');

/** Resolves a package installed under PREFIX; fails with the install hint when it is missing. */
export function resolveOutside(name) {
  try {
    return createRequire(join(PREFIX, 'package.json')).resolve(name);
  } catch {
    throw new Error(`${name} not found under ${PREFIX}: run sh tools/compare/install.sh first`);
  }
}

export function packageVersion(name) {
  return JSON.parse(readFileSync(join(PREFIX, 'node_modules', name, 'package.json'), 'utf8')).version;
}

export const PREFILL_LENGTHS = [1, 128];
export const DECODE_TOKENS = Number(process.env.COMPARE_DECODE_TOKENS ?? 64);
/**
 * Flash attention, set explicitly and the same in both engines: on (what llama.cpp's own default,
 * `-fa auto`, picks on CPU), or off with COMPARE_FLASH_ATTN=0.
 */
export const FLASH_ATTENTION = process.env.COMPARE_FLASH_ATTN !== '0';
export const REPS = Number(process.env.COMPARE_REPS ?? 3);

/**
 * Fixed prompt tokens: the digits '0'..'9', ids 48..57 (their bytes) in every byte-level BPE vocabulary
 * here (the random fixtures' and the arith models'). A digit string tokenizes one token per digit
 * (Qwen2's pre-tokenizer isolates each digit), so engines that take only text (wllama) get the very
 * same tokens as engines that take ids (llama.cpp): fixedText(n) is fixedTokens(n) spelled out.
 */
const DIGITS = (n) => Array.from({ length: n }, (_, i) => (i * 7 + 3) % 10);
export const fixedTokens = (n) => DIGITS(n).map((d) => 48 + d);
export const fixedText = (n) => DIGITS(n).join('');

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function cpuModel() {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line ? line.split(':').slice(1).join(':').trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const round = (x, digits = 3) => Number(x.toFixed(digits));

/** Progress goes to stderr so that stdout holds only the one JSON line. */
export const log = (...a) => console.error('[compare]', ...a);
