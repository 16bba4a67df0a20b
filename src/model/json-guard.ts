// Untrusted JSON (safetensors headers, config.json, the shard index, tokenizer files): strict UTF-8,
// bounded nesting and no duplicate keys, checked in one linear scan before JSON.parse, so a hostile
// file gets a FormatError instead of a stack overflow, a silently shadowed tensor or a mangled name.
import { FormatError } from '../errors.ts';

export interface JsonLimits {
  /** Deepest allowed nesting of objects/arrays (tokenizer.json needs about 6; default 64). */
  maxDepth?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes strict UTF-8 (malformed sequences are an error, not U+FFFD). */
export function decodeUtf8(bytes: Uint8Array, file: string, what = 'text'): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new FormatError(file, `${what} is not valid UTF-8`);
  }
}

export function parseJsonBytes(bytes: Uint8Array, file: string, limits: JsonLimits = {}): unknown {
  return parseJsonText(decodeUtf8(bytes, file, 'JSON'), file, limits);
}

export function parseJsonText(text: string, file: string, limits: JsonLimits = {}): unknown {
  scanJson(text, file, limits.maxDepth ?? 64);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(file, `invalid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** Checks nesting depth and duplicate object keys; leaves syntax errors to JSON.parse. */
function scanJson(text: string, file: string, maxDepth: number): void {
  // One entry per open container: the keys seen so far (objects) or null (arrays).
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        let key = text.slice(start + 1, i);
        if (escaped) {
          try {
            key = JSON.parse(text.slice(start, i + 1)) as string;
          } catch {
            return; /* JSON.parse reports it */
          }
        }
        if (top.has(key)) throw new FormatError(file, `duplicate key ${quote(key)}`);
        top.add(key);
        expectKey = false;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) throw new FormatError(file, `JSON nested deeper than ${maxDepth} levels`);
      stack.push(c === 0x7b ? new Set() : null);
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] != null;
    }
  }
}

/** Narrowing helper for parsed JSON objects. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An untrusted name for an error message: quoted, escaped onto one line, and cut to `max` characters. */
export function quote(s: string, max = 80): string {
  const cut = s.length > max ? s.slice(0, max) + '…' : s;
  return JSON.stringify(cut).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
