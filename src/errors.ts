// Typed errors: every failure a user can cause or meet surfaces as one of these, with a one-line message.

/** Base class: `code` is stable for programs, `message` is one line for people. */
export class FastTTSError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A model, tokenizer, config or data file is malformed or unsupported. Names the file. */
export class FormatError extends FastTTSError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super('format', `${file}: ${problem}`);
  }
}

/** An option or argument is invalid. */
export class OptionError extends FastTTSError {
  constructor(message: string) {
    super('option', message);
  }
}

/** No WebGPU adapter could be obtained. */
export class NoGpuError extends FastTTSError {
  constructor(message: string) {
    super('no-gpu', message);
  }
}

/** The GPU device was lost; the engine must be created again. */
export class DeviceLostError extends FastTTSError {
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super('device-lost', `GPU device lost (${reason}): ${detail}`);
  }
}

/** The memory budget or the KV arena cannot hold what was asked. */
export class OutOfMemoryError extends FastTTSError {
  constructor(message: string) {
    super('out-of-memory', message);
  }
}

/** A prompt (plus generation) does not fit the model's context. */
export class PromptTooLongError extends FastTTSError {
  constructor(
    readonly tokens: number,
    readonly limit: number,
  ) {
    super('prompt-too-long', `prompt of ${tokens} tokens exceeds the limit of ${limit}`);
  }
}

/** The caller aborted the operation. */
export class CancelledError extends FastTTSError {
  constructor(message = 'operation cancelled') {
    super('cancelled', message);
  }
}
