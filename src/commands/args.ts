// Command-line argument parsing for `fasttts`: every malformed argument becomes an OptionError with a
// one-line message (the CLI prints it and exits non-zero, without a stack trace).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OptionError } from '../errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  /** String options as given (undefined when absent). */
  values: Record<string, string | undefined>;
  /** Boolean flags. */
  flags: Record<string, boolean>;
  positionals: string[];
}

/** Option specs for parseCommandArgs: string-valued options by name, then boolean flags by name. */
export function optionSpecs<S extends string, F extends string>(
  strings: readonly S[],
  flags: readonly F[] = [],
): Record<S, { type: 'string' }> & Record<F, { type: 'boolean' }> {
  const specs: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const s of strings) specs[s] = { type: 'string' };
  for (const f of flags) specs[f] = { type: 'boolean' };
  return specs as Record<S, { type: 'string' }> & Record<F, { type: 'boolean' }>;
}

export function parseCommandArgs(_command: string, argv: string[], options: Options, maxPositionals = 0): ParsedArgs {
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    // node:util's messages are multi-line with hints; keep the first line.
    throw new OptionError(`${String((e as Error).message).split('\n')[0]}`);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new OptionError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  const values: Record<string, string | undefined> = {};
  const flags: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(parsed.values)) {
    if (typeof v === 'boolean') flags[k] = v;
    else if (typeof v === 'string') values[k] = v;
  }
  return { values, flags, positionals: parsed.positionals };
}

export function intOption(name: string, raw: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new OptionError(`--${name} must be an integer in [${min}, ${max}], got "${String(raw)}"`);
  return v;
}

export function numberOption(name: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) throw new OptionError(`--${name} must be a number in [${min}, ${max}], got "${String(raw)}"`);
  return v;
}

export function choiceOption<T extends string>(name: string, raw: unknown, fallback: T, choices: readonly T[]): T {
  if (raw === undefined) return fallback;
  if (!choices.includes(raw as T)) throw new OptionError(`--${name} must be one of ${choices.join('|')}, got "${String(raw)}"`);
  return raw as T;
}

export function intListOption(name: string, raw: unknown, fallback: number[], min: number, max: number): number[] {
  if (raw === undefined) return fallback;
  return String(raw)
    .split(',')
    .map((s) => intOption(name, s.trim(), 0, min, max));
}
