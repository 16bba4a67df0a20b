// Typed errors across the worker boundary: structured cloning (and comlink's default) keep only an
// Error's message, so a FormatError thrown in the worker would arrive as a plain Error. We send the
// class name and fields and rebuild the same class on the other side.
import { CancelledError, DeviceLostError, FastTTSError, FormatError, NoGpuError, OptionError, OutOfMemoryError, PromptTooLongError } from '../errors.ts';

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  fields: Record<string, string | number>;
  stack?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const fields: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key !== 'code' && key !== 'name' && (typeof value === 'string' || typeof value === 'number')) fields[key] = value;
  }
  return { name: error.name, message: error.message, code: (error as FastTTSError).code, fields, stack: error.stack };
}

export function reviveError(s: SerializedError): Error {
  const f = s.fields;
  let error: Error;
  // By the stable `code`: class names do not survive minification.
  switch (s.code) {
    case 'format':
      error = new FormatError(String(f.file), String(f.problem));
      break;
    case 'option':
      error = new OptionError(s.message);
      break;
    case 'no-gpu':
      error = new NoGpuError(s.message);
      break;
    case 'device-lost':
      error = Object.assign(new DeviceLostError(String(f.reason), ''), { message: s.message });
      break;
    case 'out-of-memory':
      error = new OutOfMemoryError(s.message);
      break;
    case 'prompt-too-long':
      error = new PromptTooLongError(Number(f.tokens), Number(f.limit));
      break;
    case 'cancelled':
      error = new CancelledError(s.message);
      break;
    default: {
      error = s.code ? new FastTTSError(s.code, s.message) : new Error(s.message);
      error.name = s.name;
    }
  }
  if (s.stack) error.stack = s.stack;
  return error;
}
