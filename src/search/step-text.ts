// Splitting generated tokens into reasoning steps on the decoded text. A step ends right after the
// first "\n\n" in its text; a token may hold the delimiter partly ("\n" then "\n") or with more text
// after it (".\n\nSo"). In the second case the step's text is cut after the delimiter (as vLLM's stop
// strings do) and the token is replaced by the tokens of its text up to the cut, so a beam's tokens are
// always its steps' tokens back to back. Every mode and iteration cuts the same way, which keeps
// speculation (that crosses step ends) and the baseline token-for-token identical.

export const STEP_DELIMITER = '\n\n';

/** The tokenizer as the search needs it (src/model/tokenizer.ts's Tokenizer has this shape). */
export interface TextCodec {
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
}

/** Incremental text of the step being generated. */
export class StepTextDecoder {
  /** Decoded text of the step's tokens so far. */
  text = '';
  /** Step tokens not yet decodable (an incomplete UTF-8 sequence across byte-level tokens). */
  private pending: number[] = [];
  /** Index (in the step's tokens) of the first pending token. */
  private pendingStart = 0;
  private count = 0;

  constructor(private readonly codec: TextCodec) {}

  /** Tokens pushed since the step began. */
  get tokenCount(): number {
    return this.count;
  }

  /**
   * Adds one token. Returns null while the step goes on, or the cut when the delimiter completed:
   * `keepTokens` step tokens stay as they are, then `replacement` tokens (possibly none) take the place
   * of the rest, and `text` is the step's final text, ending with the delimiter.
   */
  push(token: number): { keepTokens: number; replacement: number[]; text: string } | null {
    this.pending.push(token);
    this.count++;
    const piece = this.codec.decode(this.pending);
    if (piece.endsWith('\uFFFD') && this.pending.length < 4) return null;
    const before = this.text.length;
    this.text += piece;
    const groupStart = this.pendingStart;
    this.pending = [];
    this.pendingStart = this.count;
    const at = this.text.indexOf(STEP_DELIMITER, Math.max(0, before - STEP_DELIMITER.length + 1));
    if (at < 0) return null;
    const cut = at + STEP_DELIMITER.length;
    if (cut === this.text.length) return { keepTokens: this.count, replacement: [], text: this.text };
    // The delimiter ended inside the last decoded group of tokens: re-encode that group's text up to the cut.
    const fragment = this.text.slice(before, cut);
    return { keepTokens: groupStart, replacement: fragment ? this.codec.encode(fragment) : [], text: this.text.slice(0, cut) };
  }
}
