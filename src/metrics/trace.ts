// Time and the forward-call trace. The search reads time from a Clock: wall-clock for real runners, a
// virtual clock that the cost-model runner advances by each call's predicted time. Every forward call
// is recorded (model, batch shape, time) for the metrics and for replay through the cost model.
import type { ForwardTrace } from '../runtime/types.ts';

export interface Clock {
  /** Milliseconds since an arbitrary origin. */
  now(): number;
}

export const wallClock: Clock = { now: () => performance.now() };

/** A clock that only moves when told to: the cost model charges each call to it. */
export class VirtualClock implements Clock {
  private t = 0;
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    if (ms > 0) this.t += ms;
  }
}

/** A trace entry, with the search phase it belongs to. */
export interface TraceEntry extends ForwardTrace {
  /** Clock time at the start of the call, ms. */
  at: number;
  /** Rows of output (logits or scores). */
  outputRows: number;
  /** Tokens of speculative work in the call (generator only). */
  speculativeTokens: number;
}

export class TraceRecorder {
  readonly entries: TraceEntry[] = [];
  record(e: TraceEntry): void {
    this.entries.push(e);
  }
}
