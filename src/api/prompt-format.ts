// How a problem and its steps become tokens for real (Hugging Face layout) models: the generator gets
// the chat template with the Qwen2.5-Math system prompt; a Skywork-style PRM gets bos + problem + "\n",
// then each step's own tokens followed by the "\n" separator token, scored at the separator (the format
// the bundled PRM was trained on, tools/train/common.py).
import { OptionError } from '../errors.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import type { PromptFormat } from '../search/context.ts';
import { SYSTEM_PROMPT } from '../tasks/arithmetic.ts';

export function promptFormat(generator: Tokenizer, verifier: Tokenizer): PromptFormat {
  const separator = verifier.encode('\n');
  if (separator.length !== 1) throw new OptionError('the verifier tokenizer has no single "\\n" token to score steps at');
  const bos = verifier.bosTokenId ?? verifier.specialTokens.get('<|endoftext|>');
  return {
    generatorPrompt: (problem) => generator.encode(generator.applyChatTemplate(
      [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: problem }], { addGenerationPrompt: true })),
    verifierPrefix: (problem) => [...(bos === undefined || bos === null ? [] : [bos]), ...verifier.encode(`${problem}\n`)],
    verifierStep: (stepText) => [...verifier.encode(stepText), separator[0]],
    isEos: (token) => generator.isEos(token),
  };
}
