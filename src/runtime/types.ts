// The boundary between the search and the models: a ModelRunner advances many sequences at once over a
// paged KV cache. The WebGPU runner is the product; the CPU reference runner checks it; the cost-model
// runner (src/metrics) lets the search be tested at scale. The search never sees anything else.
import type { Qwen2Config } from '../model/config.ts';

/** New tokens of one sequence in a forward call (a decode step is a chunk of one token). */
export interface SequenceChunk {
  /** KV pages of the sequence: page blockTable[i] holds positions [i * pageSize, (i + 1) * pageSize). */
  blockTable: ArrayLike<number>;
  /** Position of tokens[0]: how many tokens of this sequence are already in the KV cache. */
  start: number;
  /** The new tokens; their K/V are written at positions start .. start + tokens.length - 1. */
  tokens: ArrayLike<number>;
  /** Indices into `tokens` whose outputs (logits or PRM scores) are returned, ascending. */
  outputRows: ArrayLike<number>;
}

export interface ForwardBatch {
  chunks: SequenceChunk[];
}

export interface ForwardResult {
  /** Output rows, in chunk order and then outputRows order. */
  rows: number;
  /** Generator: logits, row-major [rows, vocabSize]. */
  logits?: Float32Array;
  /** Verifier: the step score in [0, 1] for each output row. */
  scores?: Float32Array;
}

export interface ModelRunner {
  readonly config: Qwen2Config;
  /** Tokens per KV page. */
  readonly pageSize: number;
  /** KV pages this runner can address (valid page ids are 0 .. numPages - 1). */
  readonly numPages: number;
  /** Runs one batched, ragged forward pass: writes the new tokens' K/V and returns the requested outputs. */
  forward(batch: ForwardBatch): Promise<ForwardResult>;
  /** Copies the K/V of page `src` to page `dst` (copy-on-write of a shared, partly filled page). */
  copyPages(pairs: Array<[src: number, dst: number]>): Promise<void>;
  dispose(): void;
}

/** One forward call, as recorded for the trace and the cost model. */
export interface ForwardTrace {
  model: 'generator' | 'verifier';
  sequences: number;
  newTokens: number;
  contextTokens: number;
  pagesTouched: number;
  ms: number;
}
