// What the main thread and the engine worker say to each other through comlink. Results travel in an
// envelope so typed errors survive the boundary (see error-transfer.ts); AbortSignals cannot be sent,
// so each call has an id and the main thread sends cancel(id).
import type { SerializedError } from './error-transfer.ts';
import type { CoreOptions } from './engine-core.ts';
import type { EngineEvent, EngineInfo, EngineStats, GenerateOptions, GenerateResult, LoadProgress, SolveOptions, SolveResult } from './types.ts';

export type Envelope<T> = { ok: true; value: T } | { ok: false; error: SerializedError };

export interface WorkerApi {
  start(options: CoreOptions, onProgress: (p: LoadProgress) => void): Promise<Envelope<EngineInfo>>;
  /** Events arrive in batches (one message per ~frame rather than per token); all are delivered before the result. */
  solve(callId: number, problem: string, options: SolveOptions, onEvents: ((events: EngineEvent[]) => void) | null): Promise<Envelope<SolveResult>>;
  generate(callId: number, prompt: string, options: GenerateOptions, onText: ((delta: string) => void) | null): Promise<Envelope<GenerateResult>>;
  cancel(callId: number): void;
  stats(): EngineStats;
  dispose(): Promise<void>;
}
