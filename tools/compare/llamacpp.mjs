// llama.cpp (node-llama-cpp, native CPU prebuild) on one GGUF file with ONE thread.
// Prints one JSON line: load time, prefill ms/token for a 1- and a 128-token prompt, decode tokens/s.
//
//   node tools/compare/llamacpp.mjs <model.gguf>
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DECODE_TOKENS, PREFILL_LENGTHS, REPS, FLASH_ATTENTION, cpuModel, fixedTokens, log, median, packageVersion, resolveOutside, round } from './common.mjs';

const modelPath = process.argv[2];
if (!modelPath) {
  console.error('usage: node tools/compare/llamacpp.mjs <model.gguf>');
  process.exit(2);
}

const { getLlama, LlamaLogLevel } = await import(pathToFileURL(resolveOutside('node-llama-cpp')).href);
// CPU only, prebuilt binaries only (never build or download llama.cpp), and at most one thread.
const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: 1, logLevel: LlamaLogLevel.error });

log(`node-llama-cpp ${packageVersion('node-llama-cpp')}, ${llama.buildType} build, llama.cpp ${llama.llamaCppRelease.release}`);
log(`system info: ${llama.systemInfo}`);

const CONTEXT = 1024;
async function loadOnce() {
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: resolve(modelPath), gpuLayers: 0 });
  const context = await model.createContext({ contextSize: CONTEXT, batchSize: 512, sequences: 1, threads: 1, flashAttention: FLASH_ATTENTION });
  const sequence = context.getSequence();
  return { model, context, sequence, seconds: (performance.now() - t0) / 1000 };
}

// Load time: file to ready context, median of REPS (the first load may read from disk, the others from the page cache).
const loads = [];
let loaded = null;
for (let r = 0; r < REPS; r++) {
  if (loaded) await loaded.model.dispose();
  loaded = await loadOnce();
  loads.push(loaded.seconds);
  log(`load ${r + 1}/${REPS}: ${loaded.seconds.toFixed(3)} s`);
}
const { model, context, sequence } = loaded;

/**
 * Prefill of an n-token prompt up to the first sampled token: the prompt in one batch, the last
 * token's logits and one greedy sample (as a prompt pass in llama-bench or llama-server computes the
 * last logits; evaluateWithoutGeneratingNewTokens would skip the output layer).
 */
async function prefillMs(n) {
  await sequence.clearHistory();
  const tokens = fixedTokens(n);
  const t0 = performance.now();
  for await (const _ of sequence.evaluate(tokens, { temperature: 0, yieldEogToken: true })) break;
  return performance.now() - t0;
}

/** Greedy decode of DECODE_TOKENS tokens after a 1-token prompt; each step is one batch-1 decode. */
async function decodeTokensPerSecond(count = DECODE_TOKENS) {
  await sequence.clearHistory();
  const t0 = performance.now();
  let n = 0;
  for await (const _ of sequence.evaluate(fixedTokens(1), { temperature: 0, yieldEogToken: true })) {
    if (++n >= count) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (n !== count) throw new Error(`decode produced ${n} tokens, wanted ${count}`);
  return n / seconds;
}

// Warm-up (first-call allocations, page faults), not counted.
await prefillMs(128);
await decodeTokensPerSecond(8);

const prefill = {};
for (const n of PREFILL_LENGTHS) {
  const ms = [];
  for (let r = 0; r < REPS; r++) ms.push((await prefillMs(n)) / n);
  prefill[String(n)] = round(median(ms));
  log(`prefill ${n}: ${ms.map((x) => x.toFixed(3)).join(', ')} ms/token`);
}
const tps = [];
for (let r = 0; r < REPS; r++) tps.push(await decodeTokensPerSecond());
log(`decode: ${tps.map((x) => x.toFixed(2)).join(', ')} tokens/s`);

console.log(
  JSON.stringify({
    engine: `llama.cpp (node-llama-cpp ${packageVersion('node-llama-cpp')}, CPU)`,
    threads: 1,
    model: basename(modelPath) === 'model.gguf' ? resolve(modelPath).split('/').slice(-2).join('/') : basename(modelPath),
    load_s: round(median(loads)),
    prefill_ms_per_token: prefill,
    decode_tokens_per_s: { 1: round(median(tps), 2) },
    context_threads: context.currentThreads,
    llama_cpp: llama.llamaCppRelease.release,
    flash_attention: FLASH_ATTENTION,
    cpu: cpuModel(),
  }),
);
await context.dispose();
await model.dispose();
await llama.dispose();
