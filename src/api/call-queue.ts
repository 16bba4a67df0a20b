// Engine calls run one at a time, in the order they were made: two searches interleaved on one KV arena
// and one GPU queue would only slow each other down (and the CPU route has no spare parallelism). A call
// cancelled while it waits leaves the queue at once, without ever starting.
import { CancelledError } from '../errors.ts';

export class CallQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waitingCount = 0;

  /** Calls queued and not yet started. */
  get waiting(): number {
    return this.waitingCount;
  }

  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new CancelledError());
    this.waitingCount++;
    let started = false;
    const result = new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (started) return; // a running task watches the signal itself
        this.waitingCount--;
        reject(new CancelledError('cancelled before it started'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const turn = this.tail.then(async () => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) return; // rejected already, while waiting
        started = true;
        this.waitingCount--;
        try {
          resolve(await task());
        } catch (e) {
          reject(e);
        }
      });
      this.tail = turn;
    });
    return result;
  }
}
