// The tokenizer: tokenizer.json (+ tokenizer_config.json) run by @huggingface/tokenizers, plus the
// special tokens, end-of-sequence ids and chat template the engine needs. Built from the files of a
// Hugging Face model or from a GGUF file's tokenizer metadata (see gguf-tokenizer.ts).
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { FormatError } from '../errors.ts';
import { ChatTemplate, QWEN25_MATH_CHAT_TEMPLATE, type ChatMessage } from './chat-template.ts';
import { isRecord } from './json-guard.ts';

export interface TokenizerOptions {
  /** End-of-sequence ids from config.json / generation_config.json, merged with tokenizer_config's eos_token. */
  eosTokenIds?: number[];
  /** The file names, for messages. */
  file?: string;
  configFile?: string;
}

/** A special token in tokenizer_config.json: a string or an AddedToken object {content}. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  return null;
}

export class Tokenizer {
  /** The tokenizer file (tokenizer.json, or a GGUF file's metadata), for messages. */
  readonly file: string;
  /** One past the largest token id (added tokens included). */
  readonly vocabSize: number;
  readonly eosTokenIds: number[];
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  /** Special (control) tokens by content, e.g. `<|im_end|>` -> 151645. */
  readonly specialTokens: Map<string, number>;
  readonly chatTemplate: ChatTemplate;
  /** True when the model brought no chat template and the Qwen2.5-Math default is used. */
  readonly defaultChatTemplate: boolean;
  private readonly hf: HfTokenizer;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown, opts: TokenizerOptions = {}) {
    const file = opts.file ?? 'tokenizer.json';
    this.file = file;
    const configFile = opts.configFile ?? 'tokenizer_config.json';
    const config = tokenizerConfig ?? {};
    if (!isRecord(tokenizerJson)) throw new FormatError(file, 'not a JSON object');
    if (!isRecord(config)) throw new FormatError(configFile, 'not a JSON object');
    const model = tokenizerJson.model;
    if (!isRecord(model) || typeof model.type !== 'string') throw new FormatError(file, 'missing "model" with a "type"');
    if (model.vocab !== undefined && !isRecord(model.vocab) && !Array.isArray(model.vocab))
      throw new FormatError(file, '"model.vocab" must be an object or a list');
    if (tokenizerJson.added_tokens !== undefined && !Array.isArray(tokenizerJson.added_tokens)) throw new FormatError(file, '"added_tokens" must be a list');
    // The library throws assorted errors on malformed input: all of them become one FormatError.
    try {
      this.hf = new HfTokenizer(tokenizerJson, config);
      const vocab = this.hf.get_vocab(true);
      let maxId = -1;
      for (const id of vocab.values()) if (id > maxId) maxId = id;
      this.vocabSize = maxId + 1;
      this.specialTokens = new Map();
      for (const [id, tok] of this.hf.get_added_tokens_decoder()) if (tok.special) this.specialTokens.set(tok.content, id);
    } catch (e) {
      throw new FormatError(file, `unsupported or malformed tokenizer: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
    }
    const idOf = (key: string): number | null => {
      const content = tokenContent(config[key]);
      if (content === null) return null;
      const id = this.hf.token_to_id(content);
      return id === undefined ? null : id;
    };
    const eos = new Set(opts.eosTokenIds ?? []);
    const configEos = idOf('eos_token');
    if (configEos !== null) eos.add(configEos);
    this.eosTokenIds = [...eos];
    this.bosTokenId = idOf('bos_token');
    this.padTokenId = idOf('pad_token');
    const source = typeof config.chat_template === 'string' ? config.chat_template : null;
    this.defaultChatTemplate = source === null;
    this.chatTemplate = new ChatTemplate(source ?? QWEN25_MATH_CHAT_TEMPLATE, source === null ? 'default chat template' : configFile);
    this.eosToken = tokenContent(config.eos_token) ?? '';
    this.bosToken = tokenContent(config.bos_token) ?? '';
  }

  private readonly eosToken: string;
  private readonly bosToken: string;

  /** Token ids of `text`; special tokens written in the text (e.g. `<|im_start|>`) become their ids. */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  /** Text of `ids`; ids with no token (the padding rows of a model's embedding) decode to nothing. */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    const known = Array.from(ids).filter((id) => this.hf.id_to_token(id) !== undefined);
    if (known.length === 0) return '';
    return this.hf.decode(known, { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  isEos(id: number): boolean {
    return this.eosTokenIds.includes(id);
  }

  /** The prompt text for a conversation, ending with the assistant header when addGenerationPrompt. */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    return this.chatTemplate.render(messages, { addGenerationPrompt: opts.addGenerationPrompt ?? true, bosToken: this.bosToken, eosToken: this.eosToken });
  }
}

/**
 * Refuses a tokenizer that can produce ids the model has no embedding row for: otherwise the first such
 * token fails deep inside a forward pass, far from the file at fault.
 */
export function checkTokenizerFitsModel(tokenizer: Tokenizer, modelVocabSize: number): void {
  if (tokenizer.vocabSize > modelVocabSize) {
    throw new FormatError(
      tokenizer.file,
      `token id ${tokenizer.vocabSize - 1} is outside the model's vocabulary of ${modelVocabSize} (vocab_size in config.json)`,
    );
  }
}

/**
 * Decodes a growing token sequence piece by piece without splitting multi-byte characters, in time
 * linear in the sequence (incremental detokenization as in vLLM): only the tokens since the last
 * emitted boundary are decoded, and text is held back while it ends in an incomplete UTF-8 sequence
 * (U+FFFD from the byte decoder), for at most 4 tokens (a genuinely invalid byte is emitted then).
 */
export class StreamingDecoder {
  private ids: number[] = [];
  /** Tokens [prefix, read) decode to text already emitted; tokens from `read` on are pending. */
  private prefix = 0;
  private read = 0;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly skipSpecialTokens = true,
  ) {}

  /** Adds tokens and returns the newly completed text (possibly empty). */
  push(...ids: number[]): string {
    this.ids.push(...ids);
    const opts = { skipSpecialTokens: this.skipSpecialTokens };
    const before = this.tokenizer.decode(this.ids.slice(this.prefix, this.read), opts);
    const now = this.tokenizer.decode(this.ids.slice(this.prefix), opts);
    if (now.endsWith('\uFFFD') && this.ids.length - this.read < 4) return '';
    const fresh = now.length > before.length ? now.slice(before.length) : '';
    this.prefix = this.read;
    this.read = this.ids.length;
    return fresh;
  }
}
