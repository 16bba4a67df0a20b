// Checks the tensors a checkpoint holds against the ones its config implies, and reports every
// difference in one line: what is missing, what is unexpected, what has the wrong shape.
import { FormatError } from '../errors.ts';
import { expectedTensors, type Qwen2Config } from './config.ts';
import { quote } from './json-guard.ts';

export interface FoundTensor {
  name: string;
  shape: number[];
}

/**
 * Tensors real checkpoints carry that the engine does not need: rotary caches saved by old exporters, and
 * an lm_head stored alongside tied embeddings (or in a PRM, which never uses it). They are skipped.
 */
function isIgnorable(name: string, shape: number[], c: Qwen2Config): boolean {
  if (/^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name)) return true;
  if (name === 'lm_head.weight' && (c.tieWordEmbeddings || c.kind !== 'causal-lm')) {
    return shape.length === 2 && shape[0] === c.vocabSize && shape[1] === c.hiddenSize;
  }
  return false;
}

/** Tensor names from the file as they are when plain, quoted and escaped otherwise. */
function plainName(name: string): string {
  return /^[\w.]{1,120}$/.test(name) ? name : quote(name);
}

function list(names: string[]): string {
  const shown = names.slice(0, 4).join(', ');
  return names.length > 4 ? `${shown}, ... (${names.length} in all)` : shown;
}

/** Returns the names to stream (expected ones, in the order found); throws one FormatError listing all mismatches. */
export function checkTensors(file: string, config: Qwen2Config, found: FoundTensor[]): Set<string> {
  // Each layer has 12 tensors: a config claiming more layers than the file could hold is refused before
  // the (possibly huge) list of expected names is built.
  if (config.numLayers * 12 > found.length) {
    throw new FormatError(file, `the config declares ${config.numLayers} layers but the checkpoint holds only ${found.length} tensors`);
  }
  const expected = expectedTensors(config);
  const seen = new Set<string>();
  const unexpected: string[] = [];
  const misShaped: string[] = [];
  for (const t of found) {
    const want = expected.get(t.name);
    if (!want) {
      if (!isIgnorable(t.name, t.shape, config)) unexpected.push(plainName(t.name));
      continue;
    }
    seen.add(t.name);
    if (want.length !== t.shape.length || want.some((d, i) => d !== t.shape[i])) {
      misShaped.push(`${plainName(t.name)} [${t.shape.join(', ')}] (expected [${want.join(', ')}])`);
    }
  }
  const missing = [...expected.keys()].filter((n) => !seen.has(n));
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${list(missing)}`);
  if (unexpected.length) problems.push(`unexpected ${list(unexpected)}`);
  if (misShaped.length) problems.push(`mis-shaped ${list(misShaped)}`);
  if (problems.length) throw new FormatError(file, `tensors do not match the config: ${problems.join('; ')}`);
  return seen;
}
