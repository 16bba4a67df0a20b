// How a problem and its steps become tokens for real models. Generator: the chat template with the
// Qwen2.5-Math system prompt, ending at the assistant header. Verifier, by PRM kind:
// - value-head PRMs (Skywork-o1-Open-PRM): bos + problem + "\n", each step followed by "\n", the score
//   read at that separator;
// - two-class PRMs (Qwen2.5-Math-PRM): the chat template with the problem, each step followed by
//   `<extra_0>`, the score read there.
// Each step is tokenized on its own, so a beam's verifier tokens only ever grow by whole steps and its
// cached K/V stays valid from one iteration to the next.
import type { ModelKind } from '../model/config.ts';
import { mathProblemMessages } from '../model/chat-template.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { FormatError } from '../errors.ts';
import type { PromptFormat } from './context.ts';

export function promptFormatFor(generator: Tokenizer, verifier: Tokenizer | null, verifierKind: ModelKind = 'prm-value-head'): PromptFormat {
  const base = {
    generatorPrompt: (problem: string) => generator.encode(generator.applyChatTemplate(mathProblemMessages(problem), { addGenerationPrompt: true })),
    isEos: (t: number) => generator.isEos(t),
  };
  if (!verifier) {
    return { ...base, verifierPrefix: () => [], verifierStep: () => [] };
  }
  if (verifierKind === 'prm-two-class') {
    const tag = verifier.tokenToId('<extra_0>');
    if (tag === undefined) throw new FormatError('verifier tokenizer.json', 'a two-class PRM needs the <extra_0> step tag token');
    return {
      ...base,
      verifierPrefix: (problem) => verifier.encode(verifier.applyChatTemplate(mathProblemMessages(problem), { addGenerationPrompt: true })),
      verifierStep: (text) => [...verifier.encode(text), tag],
    };
  }
  const sep = verifier.encode('\n');
  const bos = verifier.bosTokenId !== null ? [verifier.bosTokenId] : [];
  return {
    ...base,
    verifierPrefix: (problem) => [...bos, ...verifier.encode(problem + '\n')],
    verifierStep: (text) => [...verifier.encode(text), ...sep],
  };
}
