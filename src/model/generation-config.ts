// generation_config.json: the end-of-sequence ids and the sampling defaults a checkpoint ships with.
import { FormatError } from '../errors.ts';
import type { Qwen2Config } from './config.ts';
import { isRecord } from './json-guard.ts';

export interface GenerationConfig {
  eosTokenIds: number[];
  bosTokenId: number | null;
  padTokenId: number | null;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
  doSample?: boolean;
}

function ids(v: unknown): number[] {
  if (Number.isInteger(v) && (v as number) >= 0) return [v as number];
  if (Array.isArray(v)) return v.filter((x): x is number => Number.isInteger(x) && x >= 0);
  return [];
}

function num(file: string, raw: Record<string, unknown>, key: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new FormatError(file, `"${key}" must be a non-negative number`);
  return v;
}

/** Merges generation_config.json (when present) over the ids in config.json. */
export function parseGenerationConfig(raw: unknown, config: Qwen2Config, file = 'generation_config.json'): GenerationConfig {
  if (raw === undefined) return { eosTokenIds: [...config.eosTokenIds], bosTokenId: config.bosTokenId, padTokenId: null };
  if (!isRecord(raw)) throw new FormatError(file, 'not a JSON object');
  const eos = ids(raw.eos_token_id);
  const bos = ids(raw.bos_token_id);
  const pad = ids(raw.pad_token_id);
  const topK = num(file, raw, 'top_k');
  const maxNew = num(file, raw, 'max_new_tokens');
  return {
    eosTokenIds: [...new Set([...eos, ...config.eosTokenIds])],
    bosTokenId: bos[0] ?? config.bosTokenId,
    padTokenId: pad[0] ?? null,
    temperature: num(file, raw, 'temperature'),
    topP: num(file, raw, 'top_p'),
    topK: topK === undefined ? undefined : Math.floor(topK),
    repetitionPenalty: num(file, raw, 'repetition_penalty'),
    maxNewTokens: maxNew === undefined ? undefined : Math.floor(maxNew),
    doSample: typeof raw.do_sample === 'boolean' ? raw.do_sample : undefined,
  };
}
