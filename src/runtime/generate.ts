// Plain batched generation: prefill each prompt (in chunks that fit the runner's batch), then decode
// all live sequences together until each hits an end-of-sequence token or its token limit. Used by
// `fasttts generate` and engine.generate(); the search has its own step-wise loop over the KV arena.
import { CancelledError, PromptTooLongError } from '../errors.ts';
import { ROOT_LINEAGE, childLineage, sampleToken, type SamplingOptions } from './sampler.ts';
import { PageAllocator, SequencePages } from './page-allocator.ts';
import { forwardInParts } from './forward-batch.ts';
import type { ModelRunner } from './types.ts';

export interface GenerateRequest {
  prompt: number[];
  maxTokens: number;
}

export interface GenerateLoopOptions {
  sampling: SamplingOptions;
  eosTokenIds: number[];
  /** Most new tokens per forward call (prompt chunks are cut to fit). */
  maxBatchTokens: number;
  signal?: AbortSignal;
  /** Called after every decode step with the token each live sequence just got. */
  onToken?: (sequence: number, token: number) => void;
}

export interface GenerateResult {
  tokens: number[][];
  finishReasons: Array<'eos' | 'length'>;
  prefillMs: number;
  decodeMs: number;
  decodeSteps: number;
}

/** Throws a PromptTooLongError unless every prompt (non-empty) plus its new tokens fits `limit` positions.
 *  Callers sizing a KV cache for the requests check this first, so the user sees the length problem. */
export function checkRequestsFit(requests: GenerateRequest[], limit: number): void {
  for (const r of requests) {
    if (r.prompt.length === 0) throw new PromptTooLongError(0, limit);
    if (r.prompt.length + r.maxTokens > limit) throw new PromptTooLongError(r.prompt.length + r.maxTokens, limit);
  }
}

export async function generate(runner: ModelRunner, requests: GenerateRequest[], o: GenerateLoopOptions): Promise<GenerateResult> {
  checkRequestsFit(requests, runner.config.maxPositions);
  const allocator = new PageAllocator(runner.numPages, runner.pageSize);
  const seqs = requests.map(() => new SequencePages(allocator));
  const tokens: number[][] = requests.map(() => []);
  const finish: Array<'eos' | 'length'> = requests.map(() => 'length');
  // Each request is its own lineage, so its tokens do not depend on the others in the batch.
  const lineages = requests.map((_, i) => childLineage(ROOT_LINEAGE, i));
  const checkAbort = () => {
    if (o.signal?.aborted) throw new CancelledError();
  };
  const vocab = runner.config.vocabSize;
  try {
    // Prefill: every prompt in one batch, cut into calls of at most maxBatchTokens tokens (chunked prefill).
    const t0 = performance.now();
    checkAbort();
    const prompts = requests.map((r, i) => ({
      blockTable: seqs[i].reserve(r.prompt.length).slice(),
      start: 0,
      tokens: r.prompt,
      outputRows: [r.prompt.length - 1],
    }));
    const prefill = await forwardInParts(runner, { chunks: prompts }, o.maxBatchTokens);
    requests.forEach((r, i) => (seqs[i].length += r.prompt.length));
    let lastLogits = requests.map((_, i) => prefill.logits!.subarray(i * vocab, (i + 1) * vocab));
    const prefillMs = performance.now() - t0;

    // Decode.
    const t1 = performance.now();
    let steps = 0;
    let live = requests.map((_, i) => i).filter((i) => requests[i].maxTokens > 0);
    while (live.length > 0) {
      checkAbort();
      const next: number[] = [];
      for (const i of live) {
        const position = seqs[i].length;
        const tok = sampleToken(lastLogits[i], 0, vocab, o.sampling, lineages[i], position);
        tokens[i].push(tok);
        o.onToken?.(i, tok);
        if (o.eosTokenIds.includes(tok)) finish[i] = 'eos';
        else if (tokens[i].length < requests[i].maxTokens) next.push(i);
      }
      live = next;
      if (live.length === 0) break;
      const chunks = live.map((i) => ({
        blockTable: seqs[i].reserve(1).slice(),
        start: seqs[i].length,
        tokens: [tokens[i][tokens[i].length - 1]],
        outputRows: [0],
      }));
      const logits = (await forwardInParts(runner, { chunks }, o.maxBatchTokens)).logits!;
      live.forEach((i, k) => {
        seqs[i].length += 1;
        lastLogits[i] = logits.subarray(k * vocab, (k + 1) * vocab);
      });
      steps++;
    }
    lastLogits = [];
    return { tokens, finishReasons: finish, prefillMs, decodeMs: performance.now() - t1, decodeSteps: steps };
  } finally {
    for (const s of seqs) s.release();
  }
}
