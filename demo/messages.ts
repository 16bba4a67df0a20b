// What the tutor tells the learner when something goes wrong: one plain sentence per kind of failure,
// and what to do about it.
import { CancelledError, DeviceLostError, FormatError, NoGpuError, OptionError, OutOfMemoryError, PromptTooLongError } from '../src/errors.ts';

export interface UserMessage {
  text: string;
  kind: 'error' | 'info';
  /** A button that fixes it, if there is one. */
  action?: 'restart' | 'use-bundled';
}

export function describeError(error: unknown, memoryMB: number): UserMessage {
  if (error instanceof CancelledError) return { kind: 'info', text: 'Search cancelled.' };
  if (error instanceof NoGpuError) {
    return {
      kind: 'error',
      text: `This browser can run neither WebGPU nor WebAssembly SIMD (${error.message}). Use a recent Chrome, Edge, Firefox or Safari.`,
    };
  }
  if (error instanceof DeviceLostError) {
    return { kind: 'error', text: `The GPU device was lost (${error.reason}). Restart the engine to continue.`, action: 'restart' };
  }
  if (error instanceof OutOfMemoryError) {
    return {
      kind: 'error',
      text: `The memory budget of ${memoryMB} MiB is too small for these models and settings (${error.message}). Raise the budget or lower n.`,
    };
  }
  if (error instanceof PromptTooLongError) return { kind: 'error', text: `The problem is too long for the model: ${error.message}.` };
  if (error instanceof FormatError) {
    return { kind: 'error', text: `Could not load the model: ${error.message}. The bundled models still work.`, action: 'use-bundled' };
  }
  if (error instanceof OptionError) return { kind: 'error', text: error.message };
  const message = error instanceof Error ? error.message : String(error);
  if (/fetch|network|load failed/i.test(message)) {
    return {
      kind: 'error',
      text: `Could not download the model (${message}). Check the URL and your connection; the bundled models still work.`,
      action: 'use-bundled',
    };
  }
  return { kind: 'error', text: `Something went wrong: ${message.split('\n')[0]}` };
}
