// Plain batched generation: prefill each distinct prompt once (in chunks that fit the runner's batch;
// requests repeating a prompt get copies of its K/V pages and its logits, which the runner's bitwise
// invariance makes exactly what their own prefill would give), then decode all live sequences together
// until each hits an end-of-sequence token or its token limit. Used by `fasttts generate` and
// engine.generate(); the search has its own step-wise loop over the KV arena.
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
    // Prefill: every distinct prompt in one batch, cut into calls of at most maxBatchTokens tokens
    // (chunked prefill); the first request with a prompt computes it, the rest copy its pages.
    const t0 = performance.now();
    checkAbort();
    const firstWith = new Map<string, number>();
    const leader = requests.map((r, i) => {
      const key = r.prompt.join(',');
      if (!firstWith.has(key)) firstWith.set(key, i);
      return firstWith.get(key)!;
    });
    for (const [i, r] of requests.entries()) seqs[i].reserve(r.prompt.length);
    const computed = requests.map((_, i) => i).filter((i) => leader[i] === i);
    const prompts = computed.map((i) => ({
      blockTable: seqs[i].pages.slice(),
      start: 0,
      tokens: requests[i].prompt,
      outputRows: [requests[i].prompt.length - 1],
    }));
    const prefill = await forwardInParts(runner, { chunks: prompts }, o.maxBatchTokens);
    const copies = requests.flatMap((_, i) => (leader[i] === i ? [] : seqs[i].pages.map((p, k): [number, number] => [seqs[leader[i]].pages[k], p])));
    if (copies.length > 0) await runner.copyPages(copies);
    requests.forEach((r, i) => (seqs[i].length += r.prompt.length));
    let lastLogits = requests.map((_, i) => {
      const row = computed.indexOf(leader[i]);
      return prefill.logits!.subarray(row * vocab, (row + 1) * vocab);
    });
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
