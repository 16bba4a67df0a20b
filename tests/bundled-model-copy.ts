// A copy of the bundled generator in a temporary directory, with some of its files replaced: the way tests
// build a broken or hostile model without writing a whole checkpoint.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUNDLED_GENERATOR = fileURLToPath(new URL('../models/arith-generator', import.meta.url));

/** The bundled generator's file as parsed JSON (config.json, tokenizer.json, ...). */
export function bundledJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(BUNDLED_GENERATOR, file), 'utf8')) as Record<string, unknown>;
}

/** A directory holding the bundled generator's files, `replaced` ones written instead (bytes and strings as
 *  they are, anything else as JSON). */
export function bundledGeneratorWith(replaced: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fasttts-model-'));
  for (const f of readdirSync(BUNDLED_GENERATOR)) if (!(f in replaced)) copyFileSync(join(BUNDLED_GENERATOR, f), join(dir, f));
  for (const [f, content] of Object.entries(replaced))
    writeFileSync(join(dir, f), typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content));
  return dir;
}
