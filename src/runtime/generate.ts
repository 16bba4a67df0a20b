// Plain batched generation: prefill each prompt (in chunks that fit the runner's batch), then decode
// all live sequences together until each hits an end-of-sequence token or its token limit. Used by
// `fasttts generate` and engine.generate(); the search has its own step-wise loop over the KV arena.
import { CancelledError, PromptTooLongError } from '../errors.ts';
import { ROOT_LINEAGE, childLineage, sampleToken, type SamplingOptions } from './sampler.ts';
import { PageAllocator, SequencePages } from './page-allocator.ts';
import type { ModelRunner, SequenceChunk } from './types.ts';

export interface GenerateRequest {
  prompt: number[];
  maxTokens: number;
}

export interface GenerateOptions {
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

/** Runs one forward call per group of chunks whose token count fits `maxBatchTokens`. */
async function forwardInGroups(runner: ModelRunner, chunks: SequenceChunk[], maxBatchTokens: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  const vocab = runner.config.vocabSize;
  let group: SequenceChunk[] = [];
  let groupTokens = 0;
  const flush = async () => {
    if (group.length === 0) return;
    const r = await runner.forward({ chunks: group });
    let row = 0;
    for (const ch of group) for (let i = 0; i < ch.outputRows.length; i++, row++) out.push(r.logits!.subarray(row * vocab, (row + 1) * vocab));
    group = [];
    groupTokens = 0;
  };
  for (const ch of chunks) {
    if (groupTokens + ch.tokens.length > maxBatchTokens) await flush();
    group.push(ch);
    groupTokens += ch.tokens.length;
  }
  await flush();
  return out;
}

/** Throws a PromptTooLongError unless every prompt (non-empty) plus its new tokens fits `limit` positions.
 *  Callers sizing a KV cache for the requests check this first, so the user sees the length problem. */
export function checkRequestsFit(requests: GenerateRequest[], limit: number): void {
  for (const r of requests) {
    if (r.prompt.length === 0) throw new PromptTooLongError(0, limit);
    if (r.prompt.length + r.maxTokens > limit) throw new PromptTooLongError(r.prompt.length + r.maxTokens, limit);
  }
}

export async function generate(runner: ModelRunner, requests: GenerateRequest[], o: GenerateOptions): Promise<GenerateResult> {
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
    // Prefill: prompt pieces of at most maxBatchTokens tokens; only the last piece asks for logits.
    const t0 = performance.now();
    const pending: Array<{ seq: number; last: Float32Array | null }> = requests.map((_, i) => ({ seq: i, last: null }));
    const pieces: Array<{ seq: number; chunk: SequenceChunk }> = [];
    requests.forEach((r, i) => {
      for (let s = 0; s < r.prompt.length; s += o.maxBatchTokens) {
        const part = r.prompt.slice(s, s + o.maxBatchTokens);
        const isLast = s + part.length === r.prompt.length;
        pieces.push({ seq: i, chunk: { blockTable: [], start: s, tokens: part, outputRows: isLast ? [part.length - 1] : [] } });
      }
    });
    // Pieces of one sequence must run in order: group by piece index.
    for (let round = 0; pieces.some((p) => p.chunk.start === round * o.maxBatchTokens); round++) {
      checkAbort();
      const roundPieces = pieces.filter((p) => p.chunk.start === round * o.maxBatchTokens);
      for (const p of roundPieces) p.chunk.blockTable = seqs[p.seq].reserve(p.chunk.tokens.length).slice();
      const logits = await forwardInGroups(runner, roundPieces.map((p) => p.chunk), o.maxBatchTokens);
      let k = 0;
      for (const p of roundPieces) {
        seqs[p.seq].length += p.chunk.tokens.length;
        if (p.chunk.outputRows.length > 0) pending[p.seq].last = logits[k++];
      }
    }
    const prefillMs = performance.now() - t0;

    // Decode.
    const t1 = performance.now();
    let steps = 0;
    let live = requests.map((_, i) => i).filter((i) => requests[i].maxTokens > 0);
    let lastLogits = pending.map((p) => p.last!);
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
      const chunks = live.map((i) => ({ blockTable: seqs[i].reserve(1).slice(), start: seqs[i].length, tokens: [tokens[i][tokens[i].length - 1]], outputRows: [0] }));
      const logits = await forwardInGroups(runner, chunks, o.maxBatchTokens);
      live.forEach((i, k) => {
        seqs[i].length += 1;
        lastLogits[i] = logits[k];
      });
      steps++;
    }
    lastLogits = [];
    return { tokens, finishReasons: finish, prefillMs, decodeMs: performance.now() - t1, decodeSteps: steps };
  } finally {
    for (const s of seqs) s.release();
  }
}
