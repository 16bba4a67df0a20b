// How a problem and its steps become tokens for real models: the one home of the prompt formats.
// Generator: the chat template with the Qwen2.5-Math system prompt, ending at the assistant header.
// Verifier, by its config (kind and `prm_input_format`):
// - value-head PRMs, 'skywork' (Skywork-o1-Open-PRM): bos + problem + "\n", each step followed by "\n";
// - value-head PRMs, 'chat' (the bundled PRM): exactly the generator's format, the chat prompt, then each
//   step followed by "\n\n", the generator's own step delimiter;
// - two-class PRMs (Qwen2.5-Math-PRM): the chat template with the problem, each step followed by `<extra_0>`.
// The score is read at each step's last token (its separator). Each step is tokenized on its own, so a
// beam's verifier tokens only ever grow by whole steps and its cached K/V stays valid from one iteration
// to the next.
import type { ModelKind, PrmInputFormat } from '../model/config.ts';
import { mathProblemMessages } from '../model/chat-template.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { FormatError } from '../errors.ts';
import type { PromptFormat } from './context.ts';

export interface VerifierInput {
  kind: ModelKind;
  prmInputFormat: PrmInputFormat;
}

const SKYWORK: VerifierInput = { kind: 'prm-value-head', prmInputFormat: 'skywork' };

function singleToken(tokenizer: Tokenizer, text: string): number {
  const ids = tokenizer.encode(text);
  if (ids.length !== 1) throw new FormatError('verifier tokenizer.json', `no single ${JSON.stringify(text)} token to score steps at`);
  return ids[0];
}

export function promptFormatFor(generator: Tokenizer, verifier: Tokenizer | null, input: VerifierInput = SKYWORK): PromptFormat {
  const chatPrompt = (tokenizer: Tokenizer, problem: string) =>
    tokenizer.encode(tokenizer.applyChatTemplate(mathProblemMessages(problem), { addGenerationPrompt: true }));
  const base = { generatorPrompt: (problem: string) => chatPrompt(generator, problem), isEos: (t: number) => generator.isEos(t) };
  if (!verifier) return { ...base, verifierPrefix: () => [], verifierStep: () => [] };
  if (input.kind === 'prm-two-class') {
    const tag = verifier.tokenToId('<extra_0>');
    if (tag === undefined) throw new FormatError('verifier tokenizer.json', 'a two-class PRM needs the <extra_0> step tag token');
    return { ...base, verifierPrefix: (problem) => chatPrompt(verifier, problem), verifierStep: (text) => [...verifier.encode(text), tag] };
  }
  if (input.prmInputFormat === 'chat') {
    const sep = singleToken(verifier, '\n\n');
    return { ...base, verifierPrefix: (problem) => chatPrompt(verifier, problem), verifierStep: (text) => [...verifier.encode(text), sep] };
  }
  const sep = singleToken(verifier, '\n');
  const bos = verifier.bosTokenId ?? verifier.specialTokens.get('<|endoftext|>');
  const bosIds = bos === undefined || bos === null ? [] : [bos];
  return { ...base, verifierPrefix: (problem) => [...bosIds, ...verifier.encode(`${problem}\n`)], verifierStep: (text) => [...verifier.encode(text), sep] };
}
