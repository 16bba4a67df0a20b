#!/usr/bin/env node
// Interleaved rounds of fasttts-web's CPU route (1 thread, and the machine's threads) and llama.cpp
// (1 thread) on one GGUF file, then the medians side by side with ratios: the README's comparison.
//   node tools/compare/side-by-side.mjs <file.gguf> [--rounds 3] [--json out.json]
// Needs tools/compare/install.sh (llama.cpp through node-llama-cpp, outside the project).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, json: { type: 'string' } }, allowPositionals: true });
const model = positionals[0];
if (!model) throw new Error('usage: side-by-side.mjs <file.gguf> [--rounds 3] [--json out.json]');
const root = new URL('../..', import.meta.url).pathname;

function ours(threads) {
  const out = join(tmpdir(), `fasttts-side-${process.pid}.json`);
  const args = ['bin/fasttts.mjs', 'bench', '--decode', '--route', 'cpu', '--model', model, '--batches', '1', '--steps', '8', '--json', out];
  if (threads) args.push('--threads', String(threads));
  execFileSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const r = JSON.parse(readFileSync(out, 'utf8'));
  return {
    engine: `fasttts-web CPU route, ${r.routeDetail.match(/(\d+) threads?/)[0]}`,
    load_s: r.load_s,
    prefill_ms_per_token: r.prefill_ms_per_token,
    decode_tokens_per_s: r.decode_tokens_per_s,
  };
}

function llamacpp() {
  const text = execFileSync(process.execPath, [join(root, 'tools/compare/llamacpp.mjs'), model], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  }).toString();
  const r = JSON.parse(text.trim().split('\n').pop());
  return { engine: 'llama.cpp (native), 1 thread', load_s: r.load_s, prefill_ms_per_token: r.prefill_ms_per_token, decode_tokens_per_s: r.decode_tokens_per_s };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runs = { one: [], many: [], llama: [] };
for (let i = 0; i < Number(values.rounds); i++) {
  runs.one.push(ours(1));
  runs.many.push(ours());
  runs.llama.push(llamacpp());
  console.error(`round ${i + 1} done`);
}
const summary = Object.values(runs).map((rs) => ({
  engine: rs[0].engine,
  load_s: median(rs.map((r) => r.load_s)),
  prefill_128_ms_per_token: median(rs.map((r) => r.prefill_ms_per_token['128'])),
  prefill_1_ms: median(rs.map((r) => r.prefill_ms_per_token['1'])),
  decode_tokens_per_s: median(rs.map((r) => r.decode_tokens_per_s['1'])),
}));
const llama = summary[2];
for (const s of summary)
  console.log(
    `${s.engine.padEnd(36)} decode ${s.decode_tokens_per_s.toFixed(2)} tok/s (${(llama.decode_tokens_per_s / s.decode_tokens_per_s).toFixed(2)}x behind llama.cpp); prefill@128 ${s.prefill_128_ms_per_token.toFixed(1)} ms/token (${((s.prefill_128_ms_per_token * s.decode_tokens_per_s) / 1000).toFixed(2)} of a decode step); prefill of 1 token ${s.prefill_1_ms.toFixed(1)} ms; load ${s.load_s.toFixed(2)} s`,
  );
if (values.json) writeFileSync(values.json, JSON.stringify({ model, rounds: Number(values.rounds), runs, summary }, null, 2));
