// The engine's call queue and the typed-error transfer across the worker boundary.
import { describe, expect, it } from 'vitest';
import { CallQueue } from '../src/api/call-queue.ts';
import { reviveError, serializeError } from '../src/api/error-transfer.ts';
import { CancelledError, DeviceLostError, FormatError, NoGpuError, OptionError, OutOfMemoryError, PromptTooLongError } from '../src/errors.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CallQueue', () => {
  it('runs calls one at a time, in the order they were made', async () => {
    const queue = new CallQueue();
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const task = (name: string, ms: number) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`start ${name}`);
      await tick(ms);
      log.push(`end ${name}`);
      running--;
      return name;
    };
    const results = await Promise.all([queue.run(task('a', 20)), queue.run(task('b', 1)), queue.run(task('c', 5))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(maxRunning).toBe(1);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('a call aborted while waiting rejects at once and never starts', async () => {
    const queue = new CallQueue();
    const started: string[] = [];
    const first = queue.run(async () => {
      started.push('first');
      await tick(30);
    });
    const controller = new AbortController();
    const second = queue.run(async () => void started.push('second'), controller.signal);
    await tick(1); // the first call has started; the second waits
    expect(queue.waiting).toBe(1);
    controller.abort();
    await expect(second).rejects.toBeInstanceOf(CancelledError);
    expect(queue.waiting).toBe(0);
    await first;
    await queue.run(async () => void started.push('third'));
    expect(started).toEqual(['first', 'third']);
  });

  it('an already aborted signal rejects without queueing', async () => {
    const queue = new CallQueue();
    await expect(queue.run(async () => 1, AbortSignal.abort())).rejects.toBeInstanceOf(CancelledError);
  });

  it('a failing call does not stop the ones after it', async () => {
    const queue = new CallQueue();
    const failing = queue.run(async () => {
      throw new OptionError('bad n');
    });
    const next = queue.run(async () => 'ok');
    await expect(failing).rejects.toThrow('bad n');
    await expect(next).resolves.toBe('ok');
  });
});

describe('typed errors across the worker boundary', () => {
  const cases: Error[] = [
    new FormatError('model.safetensors', 'truncated header'),
    new OptionError('n must be positive'),
    new NoGpuError('no adapter'),
    new DeviceLostError('destroyed', 'gone'),
    new OutOfMemoryError('budget too small'),
    new PromptTooLongError(5000, 4096),
    new CancelledError(),
  ];
  for (const error of cases) {
    it(`${error.name} keeps its class, message and fields`, () => {
      const revived = reviveError(structuredClone(serializeError(error)));
      expect(revived).toBeInstanceOf(error.constructor);
      expect(revived.message).toBe(error.message);
      expect({ ...revived }).toEqual({ ...error });
    });
  }

  it('plain errors and thrown non-errors arrive as Errors with their message', () => {
    expect(reviveError(serializeError(new TypeError('x is undefined'))).message).toBe('x is undefined');
    expect(reviveError(serializeError('a string')).message).toBe('a string');
  });
});
