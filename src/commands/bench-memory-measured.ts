// Memory benchmark measured on this device with the bundled models: a beam-search workload driven
// directly over the KV arena (src/runtime/kv-arena.ts) in one GPU buffer shared by the two WebGPU
// runners. Each iteration every beam decodes a step (lengths drawn from the recorded step statistics,
// scaled to the small models), the PRM scores it, the best n / beamWidth beams are forked back to n
// (sharing pages), and the rest are freed. A small KV budget forces eviction, preemption and
// recompute. The memory planner (on a profile fitted to timings taken here) re-splits the arena every
// iteration; it runs side by side with a static 50/50 split. Times are wall-clock on this device.
import { createGpu, describeGpu, type GpuContext } from '../gpu/device.ts';
import { openModel, type OpenedModel } from '../model/open-model.ts';
import { mulberry32 } from '../model/random-model.ts';
import { calibrationSample, shapeFromConfig, type ModelShape } from '../metrics/cost-model.ts';
import { measuredProfile, type CalibrationSample, type HardwareProfile } from '../metrics/hardware-profiles.ts';
import { DEFAULT_STEP_STATISTICS } from '../simulation/synthetic-model.ts';
import { createGpuKvArena, type GpuKvArena } from '../runtime/gpu-arena.ts';
import { KvArena, type KvPool, type KvSequence } from '../runtime/kv-arena.ts';
import { MemoryPlanner, formatPlannerEntry } from '../search/memory-planner.ts';
import { childLineage, ROOT_LINEAGE, sampleToken, type SamplingOptions } from '../runtime/sampler.ts';
import type { ModelRunner } from '../runtime/types.ts';
import { createWebGpuRunner, type WebGpuRunner } from '../runtime/webgpu-runner.ts';
import { DEFAULT_GENERATOR, DEFAULT_VERIFIER } from './default-models.ts';
import type { MemoryBenchFields } from './bench-memory.ts';

export interface MeasuredMemoryBenchOptions {
  /** Beam counts (default 8, 16). */
  ns?: number[];
  /** KV arena budget, MiB (default 8: about 40 pages per model of the bundled models, tight at n = 16). */
  kvBudgetMiB?: number;
  beamWidth?: number;
  iterations?: number;
  /** Step lengths are the recorded ones divided by this (the bundled models write short steps). Default 6. */
  stepLengthDivisor?: number;
  seed?: number;
  onPlannerLog?: (line: string) => void;
  /** Runs per (n, split); the fastest is reported (wall-clock noise on a shared machine). Default 1. */
  repeats?: number;
  /** Check the arena's bookkeeping invariants after every iteration (tests). */
  checkInvariants?: boolean;
}

export interface MeasuredMemoryRow extends MemoryBenchFields {
  source: 'measured';
  route: string;
  copyOnWriteCopies: number;
  relocatedPages: number;
}

const PAGE_SIZE = 16;
const MAX_BATCH_TOKENS = 128;
const SAMPLING: SamplingOptions = { temperature: 1, topK: 0, topP: 1, seed: 7 };

interface Beam {
  g: KvSequence;
  v: KvSequence;
  lineage: number;
  /** Tokens of the current step generated so far, and the step's target length. */
  step: number[];
  target: number;
  score: number;
}

/** Runs every pending token of `seqs` through the model in calls of at most MAX_BATCH_TOKENS; returns
 *  each sequence's output row (logits offset or score) from the call that finished it. */
async function runPending(pool: KvPool, runner: ModelRunner, seqs: KvSequence[], counter?: { computed: number }): Promise<Map<KvSequence, { logits?: Float32Array; offset: number; score?: number }>> {
  const out = new Map<KvSequence, { logits?: Float32Array; offset: number; score?: number }>();
  let waiting = seqs.filter((s) => s.pending > 0);
  while (waiting.length > 0) {
    const res = await pool.schedule(waiting, MAX_BATCH_TOKENS);
    const r = await runner.forward({ chunks: res.chunks });
    pool.commit(res.scheduled);
    if (counter) for (const c of res.chunks) counter.computed += c.tokens.length;
    res.scheduled.forEach((s, k) => {
      if (s.pending === 0) out.set(s, { logits: r.logits, offset: k * runner.config.vocabSize, score: r.scores?.[k] });
    });
    waiting = waiting.filter((s) => s.pending > 0);
  }
  return out;
}

/** A measured profile for the planner: decode at a few batch sizes and one prefill, fitted. */
async function calibrate(arena: KvArena, gen: WebGpuRunner, ver: WebGpuRunner, shapes: { g: ModelShape; v: ModelShape }): Promise<HardwareProfile> {
  const samples: CalibrationSample[] = [];
  const time = async (pool: KvPool, runner: ModelRunner, shape: ModelShape, seqs: KvSequence[]) => {
    const res = await pool.schedule(seqs, MAX_BATCH_TOKENS);
    const newTokens = res.chunks.reduce((a, c) => a + c.tokens.length, 0);
    const context = res.chunks.reduce((a, c) => a + c.start, 0);
    const t0 = performance.now();
    await runner.forward({ chunks: res.chunks });
    const ms = performance.now() - t0;
    pool.commit(res.scheduled);
    samples.push(calibrationSample(shape, { sequences: res.chunks.length, newTokens, contextTokens: context }, ms));
  };
  for (const batch of [1, 4, 8]) {
    const seqs = Array.from({ length: batch }, (_, i) => arena.generator.create([1 + i, 2, 3, 4, 5, 6, 7, 8]));
    await runPending(arena.generator, gen, seqs);
    for (let rep = 0; rep < 2; rep++) {
      seqs.forEach((s, i) => arena.generator.append(s, [10 + i]));
      await time(arena.generator, gen, shapes.g, seqs);
    }
    seqs.forEach((s) => arena.generator.free(s));
  }
  const v = arena.verifier.create(Array.from({ length: 96 }, (_, i) => 1 + (i % 50)));
  await time(arena.verifier, ver, shapes.v, [v]);
  arena.verifier.free(v);
  arena.generator.evict(Infinity);
  arena.verifier.evict(Infinity);
  return measuredProfile(samples, 'measured on this device (calibration)');
}

async function beamWorkload(
  ga: GpuKvArena, gen: WebGpuRunner, ver: WebGpuRunner, n: number, _split: 'planner' | 'static-50/50',
  o: Required<Pick<MeasuredMemoryBenchOptions, 'beamWidth' | 'iterations' | 'stepLengthDivisor' | 'seed' | 'checkInvariants'>>, planner: MemoryPlanner | null,
): Promise<Omit<MeasuredMemoryRow, 'source' | 'route' | 'n' | 'split'>> {
  const arena = new KvArena(ga.layout.arenaOptions);
  arena.generator.attach(gen);
  arena.verifier.attach(ver);
  const rand = mulberry32(o.seed);
  const vocab = gen.config.vocabSize;
  const prompt = Array.from({ length: 40 }, () => Math.floor(rand() * vocab));
  const lengths = DEFAULT_STEP_STATISTICS.stepLengths.map((l) => Math.max(2, Math.round(l / o.stepLengthDivisor)));
  const t0 = performance.now();
  let genMs = 0;
  let verMs = 0;
  const pages = { g: 0, v: 0, plans: 0 };
  const counter = { computed: 0 };

  const rootG = arena.generator.create(prompt);
  const rootV = arena.verifier.create(prompt);
  const rootOut = (await runPending(arena.generator, gen, [rootG], counter)).get(rootG)!;
  await runPending(arena.verifier, ver, [rootV], counter);
  let beams: Beam[] = arena.generator.fork(rootG, n).map((g, i) => {
    const lineage = childLineage(ROOT_LINEAGE, i);
    arena.generator.append(g, [sampleToken(rootOut.logits!, rootOut.offset, vocab, SAMPLING, lineage, g.length)]);
    return { g, v: arena.verifier.fork(rootV, 1)[0], lineage, step: [], target: 0, score: 0 };
  });
  arena.generator.free(rootG);
  arena.verifier.free(rootV);

  const history: number[] = [];
  for (let it = 0; it < o.iterations; it++) {
    for (const b of beams) {
      b.step = [b.g.tokens[b.g.length - 1]];
      b.target = lengths[Math.floor(rand() * lengths.length)];
    }
    if (planner) {
      const mean = (f: (b: Beam) => number) => beams.reduce((a, b) => a + f(b), 0) / beams.length;
      const choice = planner.plan({
        beams: beams.length, stepLengths: history.length > 0 ? history : lengths,
        generatorContext: mean((b) => b.g.length), verifierContext: mean((b) => b.v.length), sharedPrefixTokens: prompt.length,
        distinctGeneratorTokens: arena.generator.stats().pagesInUse * PAGE_SIZE, distinctVerifierTokens: arena.verifier.stats().pagesInUse * PAGE_SIZE,
        longestGeneratorTokens: Math.max(...beams.map((b) => b.g.length)) + Math.max(...lengths),
        longestVerifierTokens: Math.max(...beams.map((b) => b.v.length)) + Math.max(...lengths),
      });
      await arena.setSplit(choice.generatorPages);
    }
    pages.g += arena.generator.capacityPages;
    pages.v += arena.verifier.capacityPages;
    pages.plans++;
    const itStart = performance.now();

    // Generation: every beam decodes its step; a preempted beam recomputes, in chunks, when it comes back.
    let active = beams.filter((b) => b.step.length < b.target);
    while (active.length > 0) {
      const outs = await runPending(arena.generator, gen, active.map((b) => b.g), counter);
      for (const b of active) {
        const r = outs.get(b.g)!;
        const t = sampleToken(r.logits!, r.offset, vocab, SAMPLING, b.lineage, b.g.length);
        arena.generator.append(b.g, [t]);
        b.step.push(t);
      }
      active = active.filter((b) => b.step.length < b.target);
    }
    const genDone = performance.now();
    genMs += genDone - itStart;

    // Verification: the PRM reads each beam's new step and scores it.
    for (const b of beams) arena.verifier.append(b.v, b.step);
    const scores = await runPending(arena.verifier, ver, beams.map((b) => b.v), counter);
    for (const b of beams) b.score = scores.get(b.v)!.score!;
    verMs += performance.now() - genDone;
    history.push(...beams.map((b) => b.step.length));
    planner?.observe(performance.now() - itStart);

    // Selection: the best n / beamWidth beams, each forked back to beamWidth copies.
    const keep = [...beams].sort((a, b) => b.score - a.score).slice(0, Math.max(1, n / o.beamWidth));
    const next: Beam[] = [];
    keep.forEach((b) => {
      const gs = arena.generator.fork(b.g, o.beamWidth);
      const vs = arena.verifier.fork(b.v, o.beamWidth);
      gs.forEach((g, j) => next.push({ g, v: vs[j], lineage: childLineage(b.lineage, j), step: [], target: 0, score: 0 }));
    });
    for (const b of beams) {
      arena.generator.free(b.g);
      arena.verifier.free(b.v);
    }
    beams = next;
    if (o.checkInvariants) {
      arena.generator.checkInvariants();
      arena.verifier.checkInvariants();
    }
  }
  const latencyMs = performance.now() - t0;
  const g = arena.generator.stats();
  const v = arena.verifier.stats();
  const hit = g.prefixHitTokens + v.prefixHitTokens;
  return {
    latencyMs, generatorMs: genMs, verifierMs: verMs,
    // Tokens found in cached pages, over those plus the tokens run through the models.
    prefixHitRate: hit / Math.max(1, hit + counter.computed),
    prefixHitTokens: hit, recomputedTokens: g.recomputedTokens + v.recomputedTokens,
    preemptions: g.preemptions + v.preemptions, evictions: g.evictions + v.evictions,
    copyOnWriteCopies: g.copyOnWriteCopies + v.copyOnWriteCopies, relocatedPages: g.relocatedPages + v.relocatedPages,
    meanGeneratorPages: pages.g / pages.plans, meanVerifierPages: pages.v / pages.plans,
  };
}

/** Runs the workload for each n with the static split and with the planner, on the bundled models. */
export async function benchMemoryMeasured(o: MeasuredMemoryBenchOptions = {}, gpuIn?: GpuContext): Promise<MeasuredMemoryRow[]> {
  const gpu = gpuIn ?? (await createGpu());
  const opened: OpenedModel[] = [await openModel(DEFAULT_GENERATOR), await openModel(DEFAULT_VERIFIER)];
  const [gModel, vModel] = opened;
  const ga = createGpuKvArena(gpu, { totalBytes: (o.kvBudgetMiB ?? 8) * 2 ** 20, pageSize: PAGE_SIZE, generator: gModel.config, verifier: vModel.config });
  const runners: WebGpuRunner[] = [];
  try {
    const gen = await createWebGpuRunner(gpu, gModel.source, { weightFormat: 'f32', numPages: 0, pageSize: PAGE_SIZE, maxBatchTokens: MAX_BATCH_TOKENS, kv: ga.region('generator') });
    runners.push(gen);
    const ver = await createWebGpuRunner(gpu, vModel.source, { weightFormat: 'f32', numPages: 0, pageSize: PAGE_SIZE, maxBatchTokens: MAX_BATCH_TOKENS, kv: ga.region('verifier') });
    runners.push(ver);
    const sizing = new KvArena(ga.layout.arenaOptions);
    const shapes = { g: shapeFromConfig(gModel.config, { weightFormat: 'f32' }), v: shapeFromConfig(vModel.config, { weightFormat: 'f32' }) };
    const calArena = new KvArena(ga.layout.arenaOptions);
    calArena.generator.attach(gen);
    calArena.verifier.attach(ver);
    const profile = await calibrate(calArena, gen, ver, shapes);
    const route = describeGpu(gpu);
    const settings = { beamWidth: o.beamWidth ?? 4, iterations: o.iterations ?? 4, stepLengthDivisor: o.stepLengthDivisor ?? 6, seed: o.seed ?? 1, checkInvariants: o.checkInvariants ?? false };
    const rows: MeasuredMemoryRow[] = [];
    for (const n of o.ns ?? [8, 16]) {
      for (const split of ['static-50/50', 'planner'] as const) {
        const makePlanner = () => split === 'static-50/50' ? null : new MemoryPlanner({
          kvBytes: ga.layout.arenaOptions.totalBytes, profile, generator: shapes.g, verifier: shapes.v, pageSize: PAGE_SIZE,
          maxBatchTokens: MAX_BATCH_TOKENS, allowOffload: false, verifierPagesFor: (g) => sizing.verifierPagesFor(g),
          onLog: o.onPlannerLog ? (e) => o.onPlannerLog!(formatPlannerEntry(e)) : undefined,
        });
        let best: Omit<MeasuredMemoryRow, 'source' | 'route' | 'n' | 'split'> | null = null;
        for (let rep = 0; rep < (o.repeats ?? 1); rep++) {
          const r = await beamWorkload(ga, gen, ver, n, split, settings, makePlanner());
          if (!best || r.latencyMs < best.latencyMs) best = r;
        }
        rows.push({ source: 'measured', route, n, split, ...best! });
      }
    }
    return rows;
  } finally {
    for (const r of runners) r.dispose();
    ga.destroy();
    if (!gpuIn) gpu.destroy();
  }
}

export function formatMeasuredMemoryBench(rows: MeasuredMemoryRow[], kvBudgetMiB = 8): string {
  const head = `KV memory benchmark, measured on this device (${rows[0]?.route ?? '?'}), bundled models, KV budget ${kvBudgetMiB} MiB, beam-search workload over the KV arena`;
  const cols = ['n', 'split', 'latency ms', 'gen ms', 'ver ms', 'prefix-hit', 'recomputed tok', 'preempt', 'evict', 'cow', 'relocated', 'gen pages', 'ver pages', 'speed-up'];
  const lines = [head, cols.join(' | ')];
  for (const r of rows) {
    const base = rows.find((s) => s.n === r.n && s.split === 'static-50/50');
    lines.push([
      r.n, r.split, r.latencyMs.toFixed(0), r.generatorMs.toFixed(0), r.verifierMs.toFixed(0), `${(100 * r.prefixHitRate).toFixed(1)}%`,
      r.recomputedTokens, r.preemptions, r.evictions, r.copyOnWriteCopies, r.relocatedPages,
      r.meanGeneratorPages.toFixed(0), r.meanVerifierPages.toFixed(0), base ? `${(base.latencyMs / r.latencyMs).toFixed(2)}x` : '',
    ].join(' | '));
  }
  return lines.join('\n');
}
