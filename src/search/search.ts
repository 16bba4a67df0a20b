// The test-time-scaling loop with search-and-learn semantics: best-of-N, beam search and DVTS over a
// generator and a PRM (plus greedy and majority voting without a verifier), each method in its own file
// (methods/) over one small interface (method.ts) and dispatched by name from METHODS. runSearch prefills
// the prompt and gives the method its iterations: the generator phase, then the verifier phase, then
// the method's selection. Baseline and FastTTS modes run this same code and differ only in the
// techniques switched on (context.ts), which change when and in which batch a token or score is
// computed, never its value.
import { ROOT_LINEAGE, validateSampling } from '../runtime/sampler.ts';
import { OptionError, PromptTooLongError } from '../errors.ts';
import { extractBoxed, selectAnswer, type Candidate } from './answer.ts';
import { aggregateScore, beamText, beamTokens, completionTime, forkBeam, rootBeam, type Beam } from './beam.ts';
import { newCounters, timedForward, type MemorySplit, type SearchCounters, type SearchEnv, type SearchOptions } from './context.ts';
import type { KvArena } from '../runtime/kv-arena.ts';
import { flushCopies } from '../runtime/page-pool.ts';
import { generatePhase } from './generation.ts';
import type { SearchMethodRun, SearchRun } from './method.ts';
import { beamSearch } from './methods/beam-search.ts';
import { bestOfN, greedy, majority } from './methods/best-of-n.ts';
import { dvts } from './methods/dvts.ts';
import { verifyPhase } from './verification.ts';
import { discardBeam, duplicateBeam, speculationPlan } from './speculative.ts';
import { prefixAwareOrder } from './prefix-scheduler.ts';
import { commonPrefixLength } from '../runtime/radix-tree.ts';

/** A beam as the search returns it. */
export interface SearchBeam {
  text: string;
  /** Aggregated PRM score (0 without a verifier). */
  score: number;
  answer: string | null;
  completed: boolean;
  /** Generated tokens. */
  tokens: number;
  stepScores: Array<number | null>;
  /** Generated tokens of each step. */
  stepTokens: number[];
  /** Clock time from the start of the search until the beam's result was final, ms. */
  completionMs: number;
}

export interface SearchResult {
  answer: string | null;
  beams: SearchBeam[];
  counters: SearchCounters;
  latencyMs: number;
}

/** Fills in defaults and checks the options; methods without a verifier get n, iterations fixed. */
export function normalizeOptions(o: SearchOptions): SearchOptions {
  validateSampling(o.sampling);
  for (const [k, v] of [
    ['n', o.n],
    ['beam width', o.beamWidth],
    ['iterations', o.iterations],
    ['max step tokens', o.maxStepTokens],
    ['max batch', o.maxBatch],
    ['max prefill tokens', o.maxPrefillTokens],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new OptionError(`${k} must be a positive integer, got ${v}`);
  }
  if (!(o.siblingKeepFraction >= 0 && o.siblingKeepFraction <= 1))
    throw new OptionError(`sibling keep fraction must be in [0, 1], got ${o.siblingKeepFraction}`);
  if ((o.method === 'beam' || o.method === 'dvts') && o.n % o.beamWidth !== 0) {
    throw new OptionError(`--n (${o.n}) must be a multiple of --beam-width (${o.beamWidth}) for ${o.method}`);
  }
  if (o.method === 'greedy') return { ...o, n: 1, iterations: 1, sampling: { ...o.sampling, temperature: 0 } };
  if (o.method === 'majority' || o.method === 'best-of-n') return { ...o, iterations: 1 };
  return o;
}

const usesVerifier = (o: SearchOptions): boolean => o.method === 'best-of-n' || o.method === 'beam' || o.method === 'dvts';

/** Each method by name (context.ts SearchMethod), written over the SearchRun interface (method.ts). */
const METHODS: Record<SearchOptions['method'], SearchMethodRun> = { greedy, majority, 'best-of-n': bestOfN, beam: beamSearch, dvts };

/** Solves one problem. */
export async function runSearch(env: SearchEnv, options: SearchOptions, problem: string): Promise<SearchResult> {
  const opts = normalizeOptions(options);
  const verify = usesVerifier(opts);
  if (verify && !env.verifier) throw new OptionError(`method ${opts.method} needs a verifier model`);
  const counters = newCounters();
  const start = env.clock.now();
  const K = opts.iterations;

  // The shared prompt is computed once; every root beam forks from it.
  const prompt = env.format.generatorPrompt(problem);
  const vprefix = verify ? env.format.verifierPrefix(problem) : [];
  if (prompt.length >= env.generator.config.maxPositions) throw new PromptTooLongError(prompt.length, env.generator.config.maxPositions);
  if (verify && vprefix.length >= env.verifier!.config.maxPositions) throw new PromptTooLongError(vprefix.length, env.verifier!.config.maxPositions);
  const root = rootBeam(prompt, vprefix, ROOT_LINEAGE, env.codec, env.generatorPool.newSeq(), env.verifierPool.newSeq());
  env.events?.started(root);
  await prefillRoot(env, root, verify);

  const phase = async (active: Beam[], it: number): Promise<void> => {
    const required = it === K - 1 ? Infinity : it + 1;
    counters.iterations++;
    const t0 = env.clock.now();
    await planMemory(env, opts, active, it);
    await enterPhase(env, 'generator');
    for (const b of active) if (b.ended === null && b.steps.length >= required) counters.stepsFromSpeculation++;
    const speculate = opts.techniques.speculation && it < K - 1 && opts.speculationBatch > 0;
    const plan = speculate ? speculationPlan(active, opts.beamWidth, opts.agg, it) : null;
    // Future siblings are speculated only in the exact variant (R = 0); with R > 0 copies reuse the parent's tokens.
    const copies = (opts.method === 'beam' || opts.method === 'dvts') && opts.siblingKeepFraction === 0 ? opts.beamWidth : 1;
    // Early scores steer speculation; not in offload mode, where the verifier's K/V is in host memory now.
    const verifyEarly =
      verify && speculate && opts.techniques.earlyVerification && !sharedArena(env)?.offloading
        ? (bs: Beam[]) => verifyPhase({ env, opts, counters, required, lookahead: false, bestEffort: true }, bs)
        : undefined;
    const survivors = opts.method === 'beam' ? Math.max(1, Math.floor(opts.n / opts.beamWidth)) : undefined;
    await generatePhase(
      { env, opts, counters, iterations: K, required, speculativeSteps: plan?.steps, speculationOrder: plan?.order, copies, verifyEarly, survivors },
      active,
    );
    if (verify) {
      await enterPhase(env, 'verifier');
      await verifyPhase({ env, opts, counters, required, lookahead: false }, active);
    }
    opts.onIteration?.(it, active, required, env.clock.now() - t0);
  };
  // LookAhead verification, once the selection is made: the survivors' complete speculative steps are
  // scored now, in the same verifier phase, so the child that inherits them skips that verification and
  // a beam that already ended is complete now. Only survivors: scoring every beam's speculative steps
  // in the selection's request (the paper's way) spends most of that work on the beams it then prunes.
  const lookahead = async (survivors: Beam[], it: number): Promise<void> => {
    if (!verify || !opts.techniques.lookahead || it >= K - 1) return;
    await verifyPhase({ env, opts, counters, required: it + 1, lookahead: true }, survivors);
  };
  const run: SearchRun = {
    opts,
    start: (lineages) => {
      const beams = lineages.map((l) => {
        const b = forkBeam(root, 0, l, env.codec, env.generatorPool, env.verifierPool);
        env.events?.forked(b, root);
        return b;
      });
      for (const b of beams) b.bornAt = env.clock.now();
      return beams;
    },
    expand: phase,
    verifyAhead: lookahead,
    fork: (parent, required, count) => duplicateBeam(env, opts, counters, K, parent, required, count, env.clock.now()),
    drop: (b, dead = false) => discardBeam(env, counters, b, false, dead && opts.techniques.speculation),
  };
  const { beams: results, voters } = await METHODS[opts.method](run);
  discardBeam(env, counters, root);
  await leaveOffloadMode(env);
  const latencyMs = env.clock.now() - start;
  const toResult = (b: Beam): SearchBeam => ({
    text: beamText(b),
    score: aggregateScore(b.steps, opts.agg),
    answer: extractBoxed(beamText(b)),
    completed: b.ended !== null,
    tokens: beamTokens(b),
    stepScores: b.steps.map((s) => s.score),
    stepTokens: b.steps.map((s) => s.end - s.start),
    completionMs: completionTime(b) - start,
  });
  const candidates: Candidate[] = voters.map((b) => ({ answer: extractBoxed(beamText(b)), score: aggregateScore(b.steps, opts.agg) }));
  // Without a verifier every score is the same, so a weighted vote or a top-1 pick would keep the first
  // sample's answer: the vote counts answers instead.
  const rule = verify ? opts.select : 'majority';
  return { answer: selectAnswer(candidates, rule), beams: results.map(toResult), counters, latencyMs };
}

async function prefillRoot(env: SearchEnv, root: Beam, verify: boolean): Promise<void> {
  // All but the last prompt token: each root beam then feeds that token and samples its own first token.
  const n = root.tokens.length - 1;
  if (n > 0) {
    if (!env.generatorPool.reserve(root.kv, n)) throw new OptionError('the generator KV pool cannot hold the prompt');
    await timedForward(env, 'generator', { chunks: [{ blockTable: root.kv.pages, start: 0, tokens: root.tokens.slice(0, n), outputRows: [n - 1] }] }, 0);
    env.generatorPool.commit(root.kv, root.tokens, n);
    env.events?.extended(root);
  }
  const v = root.verifierTokens.length;
  if (verify && v > 0) {
    if (!env.verifierPool.reserve(root.vkv, v)) throw new OptionError('the verifier KV pool cannot hold the problem');
    await timedForward(env, 'verifier', { chunks: [{ blockTable: root.vkv.pages, start: 0, tokens: root.verifierTokens.slice(), outputRows: [v - 1] }] }, 0);
    env.verifierPool.commit(root.vkv, root.verifierTokens, v);
  }
}

async function planMemory(env: SearchEnv, opts: SearchOptions, active: Beam[], it: number): Promise<void> {
  if (!opts.techniques.memoryPlanner || !opts.planMemory || active.length === 0) return;
  const mean = (f: (b: Beam) => number): number => active.reduce((a, b) => a + f(b), 0) / active.length;
  const stepLengths = active.filter((b) => b.steps.length > 0).map((b) => b.steps[b.steps.length - 1].end - b.steps[b.steps.length - 1].start);
  const split = opts.planMemory({
    iteration: it,
    beams: active.length,
    stepLengths: stepLengths.length ? stepLengths : [64],
    generatorContext: mean((b) => b.tokens.length),
    verifierContext: mean((b) => b.verifierTokens.length),
    sharedPrefixTokens: active[0].promptLength,
    distinctGeneratorTokens: distinctTokens(active.map((b) => b.tokens)),
    distinctVerifierTokens: distinctTokens(active.map((b) => b.verifierTokens)),
    longestGeneratorTokens: Math.max(...active.map((b) => b.tokens.length)) + Math.max(...stepLengths, 64),
    longestVerifierTokens: Math.max(...active.map((b) => b.verifierTokens.length)) + Math.max(...stepLengths, 64),
    minGeneratorPages: Math.ceil((Math.max(...active.map((b) => b.tokens.length)) + 512) / env.generatorPool.pageSize) + 1,
    minVerifierPages: Math.ceil((Math.max(...active.map((b) => b.verifierTokens.length)) + 512) / env.verifierPool.pageSize) + 1,
  });
  if (!split) return;
  await applySplit(env, split);
}

/**
 * Re-splits KV pages between the pools: through the arena when they share one (the verifier gets what
 * the generator leaves, so the budget is never exceeded), else each pool's own capacity. Pending
 * copy-on-write copies run first; live pages the move displaces are copied by the runners or preempted.
 * An offload split puts the arena in offload mode (enterPhase then swaps the models before each phase);
 * any other split of an arena in offload mode brings both pools back.
 */
async function applySplit(env: SearchEnv, split: MemorySplit): Promise<void> {
  await flushPoolCopies(env);
  const arena = sharedArena(env);
  if (split.offload && !arena) throw new OptionError('offload mode needs both KV pools in one arena (plan with allowOffload: false)');
  if (arena && split.offload) {
    await arena.activate('generator');
  } else if (arena) {
    await arena.setSplit(split.generatorPages);
  } else {
    await env.generatorPool.setCapacity(split.generatorPages);
    await env.verifierPool.setCapacity(split.verifierPages);
  }
}

/** The arena both pools belong to, if they share one. */
function sharedArena(env: SearchEnv): KvArena | null {
  const arena = env.generatorPool.arena;
  return arena && arena === env.verifierPool.arena ? arena : null;
}

/** Runs both pools' pending copies (their runners attached for relocation) before the arena moves pages. */
async function flushPoolCopies(env: SearchEnv): Promise<void> {
  const models = [
    [env.generatorPool, env.generator],
    [env.verifierPool, env.verifier],
  ] as const;
  for (const [pool, runner] of models) {
    if (!runner) continue;
    await flushCopies(runner, pool.takeCopies());
    pool.kv.attach(runner);
  }
}

/** In offload mode, puts `model`'s K/V on the device (the whole arena) and the other's in host memory. */
async function enterPhase(env: SearchEnv, model: 'generator' | 'verifier'): Promise<void> {
  const arena = sharedArena(env);
  if (!arena?.offloading || !arena.pool(model).isOffloaded) return;
  await flushPoolCopies(env);
  await arena.activate(model);
}

/** Hands the arena back with both pools on the device (an even split: no beam is left to place). */
async function leaveOffloadMode(env: SearchEnv): Promise<void> {
  const arena = sharedArena(env);
  if (!arena?.offloading) return;
  await flushPoolCopies(env);
  await arena.setSplit(arena.evenGeneratorPages);
}

/** Tokens in the trie of the sequences: each sequence minus its common prefix with its predecessor in greedy-LCP order. */
function distinctTokens(seqs: number[][]): number {
  const order = prefixAwareOrder(seqs);
  let total = 0;
  for (let i = 0; i < order.length; i++) total += seqs[order[i]].length - (i > 0 ? commonPrefixLength(seqs[order[i]], seqs[order[i - 1]]) : 0);
  return total;
}
