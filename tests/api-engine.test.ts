// The public API in Node (in-process): loads the bundled models, solves with beam search in both modes
// (same answer and beams: FastTTS is exact), streams a consistent search tree, queues concurrent calls,
// cancels with every KV page freed, generates text, and rejects bad input with typed errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type EngineEvent } from '../src/api/index.ts';
import { CancelledError, OptionError, OutOfMemoryError } from '../src/errors.ts';
import { answersEqual } from '../src/search/answer.ts';

const PROBLEM = 'Find the value of 6+7-7.';
const SEARCH = { method: 'beam', n: 4, beamWidth: 2, iterations: 6, seed: 3 } as const;

describe('engine API (Node, in-process)', () => {
  let engine: Engine;
  const progress: string[] = [];
  let baselineTexts: string[] = [];

  beforeAll(async () => {
    engine = await createEngine({ memoryMB: 256, onProgress: (p) => progress.push(`${p.model}:${p.phase}`) });
    await engine.ready;
  });
  afterAll(() => engine?.dispose());

  it('reports where it runs and what it loaded', async () => {
    const info = await engine.ready;
    expect(info.runsIn).toBe('in-process');
    expect(info.generator).toContain('arith-generator');
    expect(info.verifier).toContain('arith-prm');
    expect(progress).toContain('verifier:done');
  });

  it('solves with beam search in both modes, with the same answer and beams, and a tree that matches the result', async () => {
    const results = [];
    for (const mode of ['baseline', 'fasttts'] as const) {
      const events: EngineEvent[] = [];
      const r = await engine.solve(PROBLEM, { ...SEARCH, mode }, { onEvent: (e) => events.push(e) });
      results.push(r);
      expect(r.mode).toBe(mode);
      expect(r.metrics.latency_ms).toBeGreaterThan(0);
      expect(r.metrics.tokens_generated).toBeGreaterThan(0);
      // The tree: every beam created once before it is touched; the result's beams are nodes of it.
      const created = new Set<number>();
      for (const e of events) {
        if (e.type === 'beam-created') {
          expect(created.has(e.beam)).toBe(false);
          if (e.parent !== null) expect(created.has(e.parent)).toBe(true);
          created.add(e.beam);
        } else if ('beam' in e) {
          expect(created.has(e.beam)).toBe(true);
        }
      }
      expect(created.size).toBeGreaterThanOrEqual(SEARCH.n);
      expect(events.filter((e) => e.type === 'iteration').length).toBe(r.metrics.iterations);
      expect(events[events.length - 1]).toEqual({ type: 'answer', result: r });
      for (const b of r.beams) expect(created.has(b.id)).toBe(true);
      // Pruned beams are reported as the search drops them, not all at the end (the tutor fades them live).
      const firstPruned = events.findIndex((e) => e.type === 'beam-pruned');
      const lastIteration = events.map((e) => e.type).lastIndexOf('iteration');
      expect(r.metrics.iterations).toBeGreaterThan(1);
      expect(firstPruned).toBeGreaterThanOrEqual(0);
      expect(firstPruned).toBeLessThan(lastIteration);
      // Each final beam's text is what the events built for it and its ancestors.
      const text = new Map<number, string>();
      const parent = new Map<number, number | null>();
      for (const e of events) {
        if (e.type === 'beam-created') parent.set(e.beam, e.parent);
        if (e.type === 'beam-extended') text.set(e.beam, (text.get(e.beam) ?? '') + e.text);
        if (e.type === 'beam-rewritten') text.set(e.beam, e.text);
      }
      const fullText = (id: number | null): string => (id === null ? '' : fullText(parent.get(id) ?? null) + (text.get(id) ?? ''));
      for (const b of r.beams) expect(fullText(b.id)).toBe(b.text);
      if (r.answer !== null) expect(answersEqual(r.beams[r.chosen].answer, r.answer)).toBe(true);
      // The memory planner (FastTTS only) reports every iteration: inputs, choice, predicted against the
      // iteration's own time, which is within the time between two iteration events (selection excluded).
      const planner = events.filter((e) => e.type === 'planner');
      const iterationMs = events.filter((e) => e.type === 'iteration').map((e) => e.ms);
      expect(planner.map((e) => e.iteration)).toEqual(mode === 'fasttts' ? [...iterationMs.keys()] : []);
      for (const e of planner) {
        expect(e.inputs.beams).toBeGreaterThan(0);
        expect(e.predicted.ms).toBeGreaterThan(0);
        expect(e.observedMs).toBeGreaterThan(0);
        expect(e.observedMs).toBeLessThanOrEqual(iterationMs[e.iteration]);
        expect(events.indexOf(e)).toBeGreaterThan(events.findIndex((x) => x.type === 'iteration' && x.iteration === e.iteration));
      }
      // Beams share the prompt's pages; the radix cache keeps pages for the next call.
      expect(r.metrics.kv_shared_pages_generator).toBeGreaterThan(0);
      expect(r.metrics.kv_shared_pages_verifier).toBeGreaterThan(0);
      expect(r.metrics.kv_cached_pages_generator).toBeGreaterThan(0);
      expect(r.metrics.kv_host_transfer_bytes).toBe(0); // 256 MiB: no offloading
    }
    baselineTexts = results[0].beams.map((b) => b.text);
    expect(results[1].answer).toBe(results[0].answer);
    expect(results[1].beams.map((b) => b.text)).toEqual(results[0].beams.map((b) => b.text));
    expect(await engine.stats()).toEqual({ kvPagesInUseGenerator: 0, kvPagesInUseVerifier: 0, queuedCalls: 0 });
  });

  it('runs concurrent calls one after another, each with its own result', async () => {
    const order: string[] = [];
    const a = engine.solve(PROBLEM, { ...SEARCH, mode: 'baseline' }, { onEvent: (e) => e.type === 'answer' && order.push('a') });
    const b = engine.solve(
      'Compute 3 + 4 * 2.',
      { ...SEARCH, mode: 'baseline' },
      {
        onEvent: (e) => {
          if (e.type === 'beam-created') order.push('b');
        },
      },
    );
    const [ra, rb] = await Promise.all([a, b]);
    expect(order.indexOf('a')).toBeLessThan(order.indexOf('b'));
    const alone = await engine.solve('Compute 3 + 4 * 2.', { ...SEARCH, mode: 'baseline' });
    expect(rb.beams.map((x) => x.text)).toEqual(alone.beams.map((x) => x.text));
    expect(ra.answer).not.toBeUndefined();
  });

  it('cancelling a running search rejects with CancelledError and frees every KV page', async () => {
    const controller = new AbortController();
    let sawPages = false;
    const run = engine.solve(
      PROBLEM,
      { ...SEARCH, iterations: 30 },
      {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'beam-extended' && !controller.signal.aborted) {
            void engine.stats().then((s) => (sawPages ||= s.kvPagesInUseGenerator > 0));
            controller.abort();
          }
        },
      },
    );
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(sawPages).toBe(true);
    expect(await engine.stats()).toEqual({ kvPagesInUseGenerator: 0, kvPagesInUseVerifier: 0, queuedCalls: 0 });
    // The engine is still usable, and gives the same result as before the cancellation.
    const again = await engine.solve(PROBLEM, { ...SEARCH, mode: 'baseline' });
    expect(again.beams.map((b) => b.text)).toEqual(baselineTexts);
  });

  it('generates text, streamed', async () => {
    let streamed = '';
    const r = await engine.generate('Compute 3 + 4.', { chat: true, maxTokens: 40 }, { onText: (d) => (streamed += d) });
    expect(r.tokens.length).toBeGreaterThan(0);
    expect(r.text).toBe(streamed);
    expect(await engine.stats()).toEqual({ kvPagesInUseGenerator: 0, kvPagesInUseVerifier: 0, queuedCalls: 0 });
  });

  it('rejects bad options with typed errors', async () => {
    await expect(engine.solve(PROBLEM, { method: 'beam', n: 3, beamWidth: 2 })).rejects.toBeInstanceOf(OptionError);
    await expect(engine.solve(PROBLEM, { mode: 'fast' as never })).rejects.toBeInstanceOf(OptionError);
  });
});

describe('engine API under a tight KV budget (the arena and its planner)', () => {
  it("FastTTS takes offload mode when no split holds both models' beams, moves K/V to host memory and back on the GPU arena, and still gives the baseline beams; the arena accounting reaches the metrics", async () => {
    // The smallest budget: 4.3 MiB of KV pages for both models, with f32 K/V (f16 holds twice the pages:
    // checked at the end).
    let f32ArenaPages = 0;
    let f32Preemptions = 0;
    const engine = await createEngine({ memoryMB: 20, kvDtype: 'f32' });
    try {
      await engine.ready;
      // n = 32 in 3 MiB (76 pages of 16 tokens for both models): each model's 32 beams need at least a
      // page each plus the shared prompt, whatever the text, so no split holds both working sets.
      const problem = 'Find the value of 8-8+9-2-1+9-7+1.'; // eight operations: long beams
      const options = { method: 'beam', n: 32, beamWidth: 4, iterations: 6, seed: 3 } as const;
      const base = await engine.solve(problem, { ...options, mode: 'baseline' });
      const planner: Array<Extract<EngineEvent, { type: 'planner' }>> = [];
      const fast = await engine.solve(
        problem,
        { ...options, mode: 'fasttts' },
        {
          onEvent: (e) => {
            if (e.type === 'planner') planner.push(e);
          },
        },
      );
      const again = await engine.solve(problem, { ...options, mode: 'baseline' });
      expect(fast.answer).toBe(base.answer);
      expect(fast.beams.map((b) => b.text)).toEqual(base.beams.map((b) => b.text));
      // The planner chose offload mode, the arena moved the idle pool's pages to host memory and back.
      expect(planner.length).toBe(fast.metrics.iterations);
      expect(planner.some((e) => e.choice.offload && e.predicted.transferMs > 0)).toBe(true);
      expect(fast.metrics.kv_host_transfer_bytes).toBeGreaterThan(0);
      expect(base.metrics.kv_host_transfer_bytes).toBe(0);
      // Offload mode runs each phase with the whole arena: no beam waits for pages, so none is preempted.
      expect(fast.metrics.kv_preemptions).toBeLessThan(base.metrics.kv_preemptions);
      const b = base.metrics,
        f = fast.metrics;
      // Memory pressure is real: cached prefixes evicted, beams preempted and recomputed.
      expect(b.kv_evictions).toBeGreaterThan(0);
      expect(b.kv_preemptions).toBeGreaterThan(0);
      expect(b.recomputed_tokens).toBeGreaterThan(0);
      expect(b.kv_copy_on_write_copies).toBeGreaterThan(0);
      expect(b.prefix_hit_tokens).toBeGreaterThan(0);
      // Baseline keeps the static split (every call), and gets it back after FastTTS's offload mode.
      expect(b.kv_relocated_pages).toBe(0);
      expect([again.metrics.kv_pages_generator, again.metrics.kv_pages_verifier]).toEqual([b.kv_pages_generator, b.kv_pages_verifier]);
      expect(again.beams.map((x) => x.text)).toEqual(base.beams.map((x) => x.text));
      // Baseline never exceeds its static split; FastTTS's split moves during the call, so its peaks are
      // bounded by the whole arena (both models have the same page size here).
      expect(b.peak_kv_pages_generator).toBeLessThanOrEqual(b.kv_pages_generator);
      expect(b.peak_kv_pages_verifier).toBeLessThanOrEqual(b.kv_pages_verifier);
      const arenaPages = b.kv_pages_generator + b.kv_pages_verifier;
      f32ArenaPages = arenaPages;
      f32Preemptions = b.kv_preemptions;
      expect(f.kv_pages_generator + f.kv_pages_verifier).toBe(arenaPages);
      expect(f.peak_kv_pages_generator).toBeLessThanOrEqual(arenaPages);
      expect(f.peak_kv_pages_verifier).toBeLessThanOrEqual(arenaPages);
      expect(await engine.stats()).toEqual({ kvPagesInUseGenerator: 0, kvPagesInUseVerifier: 0, queuedCalls: 0 });
    } finally {
      await engine.dispose();
    }
    // The same budget with f16 K/V (the default): twice the pages, and the baseline search that preempted
    // beams above preempts fewer.
    const half = await createEngine({ memoryMB: 20 });
    try {
      expect((await half.ready).kvDtype).toBe('f16');
      const r = await half.solve('Find the value of 8-8+9-2-1+9-7+1.', { method: 'beam', n: 32, beamWidth: 4, iterations: 6, seed: 3, mode: 'baseline' });
      expect(r.metrics.kv_preemptions).toBeLessThan(f32Preemptions);
      expect(r.metrics.kv_pages_generator + r.metrics.kv_pages_verifier).toBeGreaterThanOrEqual(1.9 * f32ArenaPages);
    } finally {
      await half.dispose();
    }
  }, 300_000);
});

describe('disposing an engine while it solves', () => {
  it('rejects the running and the queued call with CancelledError, stops the search before freeing the GPU, and refuses later calls', async () => {
    const engine = await createEngine({ memoryMB: 64 });
    await engine.ready;
    let disposing: Promise<void> | null = null;
    let disposed = false;
    const late: EngineEvent[] = [];
    const running = engine.solve(
      PROBLEM,
      { ...SEARCH, iterations: 30, mode: 'baseline' },
      {
        onEvent: (e) => {
          if (disposed) late.push(e);
          if (e.type === 'beam-extended' && !disposing) disposing = engine.dispose();
        },
      },
    );
    const queued = engine.solve(PROBLEM, { ...SEARCH, mode: 'baseline' });
    const outcomes = await Promise.allSettled([running, queued]);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(CancelledError);
    }
    expect(disposing).not.toBeNull();
    await disposing;
    disposed = true;
    // The search had stopped (its pages given back) before the GPU went: nothing arrives afterwards.
    await new Promise((r) => setTimeout(r, 200));
    expect(late).toEqual([]);
    await expect(engine.solve(PROBLEM, SEARCH)).rejects.toBeInstanceOf(CancelledError);
    await expect(engine.stats()).rejects.toBeInstanceOf(CancelledError);
    await engine.dispose(); // twice is fine
  }, 120_000);
});

describe('engine API errors at load', () => {
  it('a budget too small for the models is an OutOfMemoryError', async () => {
    const engine = await createEngine({ memoryMB: 4 });
    await expect(engine.ready).rejects.toBeInstanceOf(OutOfMemoryError);
    await expect(engine.solve(PROBLEM)).rejects.toBeInstanceOf(OutOfMemoryError);
    await engine.dispose();
  });
});

describe('the KV page size', () => {
  it('is an engine option: 8-token pages give the beams of 16-token pages, with more pages', async () => {
    const results = [];
    for (const kvPageSize of [16, 8]) {
      const engine = await createEngine({ memoryMB: 64, kvPageSize });
      try {
        expect((await engine.ready).kvPageSize).toBe(kvPageSize);
        results.push(await engine.solve(PROBLEM, { ...SEARCH, mode: 'fasttts' }));
      } finally {
        await engine.dispose();
      }
    }
    expect(results[1].beams.map((b) => b.text)).toEqual(results[0].beams.map((b) => b.text));
    expect(results[1].answer).toBe(results[0].answer);
    // Each model's half of the arena holds twice the pages of half the size (one more where the half did
    // not divide evenly: the two models' pages differ in bytes when their layer counts do).
    for (const pool of ['kv_pages_generator', 'kv_pages_verifier'] as const) {
      expect(results[1].metrics[pool] - 2 * results[0].metrics[pool]).toBeGreaterThanOrEqual(0);
      expect(results[1].metrics[pool] - 2 * results[0].metrics[pool]).toBeLessThanOrEqual(1);
    }
  }, 120_000);

  it('must be a whole number of tokens in 1..256', async () => {
    for (const kvPageSize of [0, 2.5, 1000]) {
      const engine = await createEngine({ kvPageSize });
      await expect(engine.ready).rejects.toBeInstanceOf(OptionError);
      await engine.dispose();
    }
  });
});

describe('the weight format', () => {
  it("is an engine option: 'auto' runs the bundled f32 files in f32, and any format can be asked for both models", async () => {
    for (const [weights, format] of [
      ['auto', 'f32'],
      ['bf16', 'bf16'],
      ['q4', 'q4'],
    ] as const) {
      const engine = await createEngine({ memoryMB: 64, weights });
      try {
        const info = await engine.ready;
        expect(info.generator).toMatch(new RegExp(`, ${format}\\)$`));
        expect(info.verifier).toMatch(new RegExp(`, ${format}\\)$`));
        const r = await engine.solve(PROBLEM, { ...SEARCH, method: 'greedy', n: 1 });
        expect(r.answer).not.toBe('');
      } finally {
        await engine.dispose();
      }
    }
  }, 120_000);

  it('must be auto or an engine format', async () => {
    const engine = await createEngine({ weights: 'q2' as never });
    await expect(engine.ready).rejects.toThrow(/weights must be "auto" or one of f32, f16, bf16, q8, q4, got "q2"/);
    await engine.dispose();
  });
});

describe('the K/V storage type', () => {
  it('is an engine option: f16 (the default) holds at least 1.9x the pages of f32 in the same budget', async () => {
    const results = [];
    for (const kvDtype of ['f16', 'f32'] as const) {
      const engine = await createEngine({ memoryMB: 64, kvDtype });
      try {
        expect((await engine.ready).kvDtype).toBe(kvDtype);
        results.push(await engine.solve(PROBLEM, { ...SEARCH, mode: 'fasttts' }));
      } finally {
        await engine.dispose();
      }
    }
    const [f16, f32] = results.map((r) => r.metrics);
    for (const pool of ['kv_pages_capacity_generator', 'kv_pages_capacity_verifier'] as const) {
      expect(f32[pool]).toBeGreaterThan(0);
      expect(f16[pool]).toBeGreaterThanOrEqual(1.9 * f32[pool]);
    }
    // Each pool's capacity is the whole arena to itself: at least its share of the split.
    expect(f16.kv_pages_capacity_generator).toBeGreaterThanOrEqual(f16.kv_pages_generator);
    expect(f16.kv_pages_capacity_verifier).toBeGreaterThanOrEqual(f16.kv_pages_verifier);
  }, 120_000);

  it('in a budget where beam search n = 64 preempts (baseline) or offloads (FastTTS) with f32 K/V, f16 needs neither', async () => {
    const problem = 'Find the value of 8-8+9-2-1+9-7+1.';
    const search = { method: 'beam', n: 64, beamWidth: 4, iterations: 6, seed: 3 } as const;
    const pressure: Record<string, number> = {};
    for (const kvDtype of ['f32', 'f16'] as const) {
      const engine = await createEngine({ memoryMB: 40, kvDtype });
      try {
        for (const mode of ['baseline', 'fasttts'] as const) {
          const m = (await engine.solve(problem, { ...search, mode })).metrics;
          pressure[`${kvDtype} ${mode}`] = m.kv_preemptions + m.kv_evictions + m.kv_host_transfer_bytes;
        }
      } finally {
        await engine.dispose();
      }
    }
    expect(pressure['f32 baseline']).toBeGreaterThan(0);
    expect(pressure['f32 fasttts']).toBeGreaterThan(0);
    expect(pressure['f16 baseline']).toBe(0);
    expect(pressure['f16 fasttts']).toBe(0);
  }, 240_000);

  it('must be f16 or f32', async () => {
    const engine = await createEngine({ kvDtype: 'bf16' as never });
    await expect(engine.ready).rejects.toBeInstanceOf(OptionError);
    await engine.dispose();
  });
});
