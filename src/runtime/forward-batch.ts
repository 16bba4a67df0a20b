// A ragged ForwardBatch, both ways. For the runners: flattened into the per-token-row tables both use,
// validated (for each token row, all chunks' new tokens in chunk order, its token id, its position, and
// where its sequence's block table starts in one flat table array; plus the indices of the rows to
// output). For their callers: the one batch splitter (forwardInParts), which cuts a batch into calls
// that fit the runner's activation buffers.
import { OptionError, PromptTooLongError } from '../errors.ts';
import type { Qwen2Config } from '../model/config.ts';
import type { ForwardBatch, ForwardResult, ModelRunner, SequenceChunk } from './types.ts';

/** Rows (new tokens) per forward call the runners' activation buffers are sized for, unless told otherwise. */
export const MAX_BATCH_TOKENS = 256;

export interface FlatBatch {
  /** Token rows in the batch. */
  rows: number;
  /** Per row: [token, position, blockTableOffset, chunkIndex] (u32 x 4, the kernels' row_info). */
  rowInfo: Uint32Array;
  /** All chunks' block tables (only the pages their positions reach), concatenated. */
  blockTables: Uint32Array;
  /** Row index of each requested output, in chunk order then outputRows order. */
  outputIndex: Uint32Array;
  /** Context tokens attended to, summed over rows' sequences (for traces). */
  contextTokens: number;
  /** Distinct pages the batch reads or writes. */
  pagesTouched: number;
}

export function flattenBatch(config: Qwen2Config, pageSize: number, numPages: number, batch: ForwardBatch): FlatBatch {
  if (!batch || !Array.isArray(batch.chunks)) throw new OptionError('forward: batch.chunks must be an array');
  let rows = 0;
  let tableEntries = 0;
  let outputs = 0;
  batch.chunks.forEach((c, i) => {
    const n = c.tokens.length;
    if (!Number.isInteger(c.start) || c.start < 0) throw new OptionError(`forward: chunk ${i} has invalid start ${c.start}`);
    const end = c.start + n;
    if (end > config.maxPositions) throw new PromptTooLongError(end, config.maxPositions);
    const pagesNeeded = Math.ceil(end / pageSize);
    if (c.blockTable.length < pagesNeeded) {
      throw new OptionError(`forward: chunk ${i} reaches position ${end - 1} but its block table has ${c.blockTable.length} pages of ${pageSize}`);
    }
    rows += n;
    tableEntries += pagesNeeded;
    outputs += c.outputRows.length;
  });
  const rowInfo = new Uint32Array(rows * 4);
  const blockTables = new Uint32Array(Math.max(1, tableEntries));
  const outputIndex = new Uint32Array(Math.max(1, outputs));
  const pages = new Set<number>();
  let row = 0;
  let tableOffset = 0;
  let out = 0;
  let contextTokens = 0;
  batch.chunks.forEach((c, i) => {
    const n = c.tokens.length;
    const pagesNeeded = Math.ceil((c.start + n) / pageSize);
    for (let p = 0; p < pagesNeeded; p++) {
      const page = c.blockTable[p];
      if (!Number.isInteger(page) || page < 0 || page >= numPages)
        throw new OptionError(`forward: chunk ${i} block table entry ${p} = ${page} is not a page in 0..${numPages - 1}`);
      blockTables[tableOffset + p] = page;
      pages.add(page);
    }
    let prev = -1;
    for (let k = 0; k < c.outputRows.length; k++) {
      const r = c.outputRows[k];
      if (!Number.isInteger(r) || r <= prev || r >= n) throw new OptionError(`forward: chunk ${i} outputRows must be ascending indices into its ${n} tokens`);
      prev = r;
      outputIndex[out++] = row + r;
    }
    for (let t = 0; t < n; t++) {
      const token = c.tokens[t];
      if (!Number.isInteger(token) || token < 0 || token >= config.vocabSize)
        throw new OptionError(`forward: chunk ${i} token ${t} = ${token} is outside the vocabulary (0..${config.vocabSize - 1})`);
      rowInfo.set([token, c.start + t, tableOffset, i], (row + t) * 4);
      contextTokens += c.start + t + 1;
    }
    row += n;
    tableOffset += pagesNeeded;
  });
  return { rows, rowInfo, blockTables, outputIndex: outputIndex.subarray(0, outputs), contextTokens, pagesTouched: pages.size };
}

/** Validates copyPages pairs: pages in range, no page both a source and a destination, no destination twice. */
export function validatePagePairs(pairs: Array<[number, number]>, numPages: number): void {
  const sources = new Set<number>();
  const destinations = new Set<number>();
  for (const [s, d] of pairs) {
    for (const p of [s, d]) {
      if (!Number.isInteger(p) || p < 0 || p >= numPages) throw new OptionError(`copyPages: page ${p} is not in 0..${numPages - 1}`);
    }
    if (destinations.has(d)) throw new OptionError(`copyPages: page ${d} is a destination twice`);
    sources.add(s);
    destinations.add(d);
  }
  for (const d of destinations) if (sources.has(d)) throw new OptionError(`copyPages: page ${d} is both a source and a destination`);
}

/**
 * Runs a batch as several calls of at most `limit` new tokens each, splitting long chunks (chunked
 * prefill: only a chunk's last piece carries its output rows), and reassembles the outputs in order.
 */
export async function forwardInParts(runner: ModelRunner, batch: ForwardBatch, limit: number): Promise<ForwardResult> {
  let total = 0;
  for (const c of batch.chunks) total += c.tokens.length;
  if (total <= limit) return runner.forward(batch);
  type Piece = { chunk: SequenceChunk; rowBase: number };
  const parts: Piece[][] = [[]];
  let used = 0;
  let rowBase = 0;
  for (const c of batch.chunks) {
    let at = 0;
    const rows = Array.from(c.outputRows);
    while (at < c.tokens.length) {
      if (used >= limit) {
        parts.push([]);
        used = 0;
      }
      const take = Math.min(limit - used, c.tokens.length - at);
      const pieceRows = rows.filter((r) => r >= at && r < at + take).map((r) => r - at);
      const before = rows.filter((r) => r < at).length;
      parts[parts.length - 1].push({
        chunk: { blockTable: c.blockTable, start: c.start + at, tokens: Array.from(c.tokens).slice(at, at + take), outputRows: pieceRows },
        rowBase: rowBase + before,
      });
      used += take;
      at += take;
    }
    rowBase += rows.length;
  }
  const vocab = runner.config.vocabSize;
  const logits = runner.config.kind === 'causal-lm' ? new Float32Array(rowBase * vocab) : undefined;
  const scores = logits ? undefined : new Float32Array(rowBase);
  for (const part of parts) {
    const r = await runner.forward({ chunks: part.map((p) => p.chunk) });
    let row = 0;
    for (const p of part) {
      for (let i = 0; i < p.chunk.outputRows.length; i++, row++) {
        if (logits) logits.set(r.logits!.subarray(row * vocab, (row + 1) * vocab), (p.rowBase + i) * vocab);
        else scores![p.rowBase + i] = r.scores![row];
      }
    }
  }
  return { rows: rowBase, logits, scores };
}
