// The search's KV pools are pools of the arena (SearchKvPool over KvPool's caller-held front end):
// seeded random beam operations (fork, decode, truncate, release, discard, re-attach) and splits moved
// while sequences are live keep the arena's invariants, the budget, and every sequence's K/V equal to
// its contiguous shadow; and a pool's capacity change never leaves more pages in use than the new cap.
import { describe, expect, it } from 'vitest';
import { KvArena } from '../src/runtime/kv-arena.ts';
import { flushCopies } from '../src/runtime/page-pool.ts';
import { SearchKvPool, arenaSearchPools, type KvSeq } from '../src/search/search-kv.ts';
import { mulberry32 } from '../src/model/random-model.ts';
import { HostPageStore, lentOut, tokenKv } from './kv-page-store.ts';
import { syntheticEnv } from '../src/simulation/cost-model-runner.ts';
import { syntheticProblem, type StepStatistics, type SyntheticRunner } from '../src/simulation/synthetic-model.ts';
import { runSearch, type SearchResult } from '../src/search/search.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions, type Techniques } from '../src/search/context.ts';

/** Runs the pool's queued copy-on-write copies on the store (as the search does before a forward call). */
const runCopies = (pool: SearchKvPool, store: HostPageStore): Promise<void> => flushCopies(store, pool.takeCopies());

/** The search's forward for one sequence: reserve, run copies, write the pending tokens' K/V, commit. */
async function compute(pool: SearchKvPool, store: HostPageStore, seq: KvSeq, tokens: number[]): Promise<boolean> {
  if (seq.pages.length === 0 && seq.computed === 0) pool.attach(seq, tokens);
  if (!pool.reserve(seq, tokens.length)) return false;
  await runCopies(pool, store);
  for (let pos = seq.computed; pos < tokens.length; pos++) {
    const page = seq.pages[Math.floor(pos / pool.pageSize)];
    // No page has two writers: the one written is this sequence's alone and not a cached prefix page.
    if (pool.kv.referencesOf(page) !== 1 || pool.kv.isCached(page)) throw new Error(`page ${page} written while shared or cached`);
  }
  store.write({ blockTable: seq.pages, start: seq.computed, tokens: tokens.slice(seq.computed), outputRows: [] }, tokens);
  pool.commit(seq, tokens, tokens.length);
  return true;
}

function checkShadow(live: Map<KvSeq, number[]>, store: HostPageStore): void {
  for (const [seq, tokens] of live) {
    for (let pos = 0; pos < seq.computed; pos++) {
      const got = store.read(seq.pages, pos);
      const want = tokenKv(tokens, pos);
      if (got.some((v, j) => v !== want[j])) throw new Error(`sequence ${seq.id} position ${pos}: K/V differs from its contiguous shadow`);
    }
  }
}

describe('SearchKvPool over the KV arena', () => {
  for (const seed of [1, 2, 3]) {
    it(`keeps the arena's invariants through 2000 random beam operations, splits and offloads, seed ${seed}`, async () => {
      const rand = mulberry32(seed);
      const ri = (n: number) => Math.floor(rand() * n);
      const pageSize = 4;
      const total = 100 * 8;
      const arena = new KvArena({ totalBytes: total, pageSize, generatorPageBytes: 8, verifierPageBytes: 12 });
      const { generatorPool, verifierPool } = arenaSearchPools(arena);
      const pools = { generator: generatorPool, verifier: verifierPool };
      const stores = {
        generator: new HostPageStore(arena.generatorRegion.numPages, pageSize),
        verifier: new HostPageStore(arena.verifierRegion.numPages, pageSize),
      };
      for (const n of ['generator', 'verifier'] as const) {
        arena.pool(n).attach(stores[n]);
        arena.pool(n).attachIo(stores[n]);
      }
      const live = { generator: new Map<KvSeq, number[]>(), verifier: new Map<KvSeq, number[]>() };
      const history: number[][] = [];
      let splits = 0;
      let opsWhileOffloaded = 0;
      for (let op = 0; op < 2000; op++) {
        if (rand() < 0.04) {
          // Offload mode, as the search uses it between phases: one model on the device with the whole
          // arena, the other's K/V in host memory, its device pages overwritten by the active model.
          for (const n of ['generator', 'verifier'] as const) await runCopies(pools[n], stores[n]);
          if (rand() < 0.7) {
            const active = rand() < 0.5 ? 'generator' : 'verifier';
            await arena.activate(active);
            stores[active === 'generator' ? 'verifier' : 'generator'].data.fill(-2);
          } else {
            await arena.share(ri(arena.maxGeneratorPages + 1));
          }
          stores.generator.scribble(arena.generator);
          stores.verifier.scribble(arena.verifier);
        }
        const name = rand() < 0.6 ? 'generator' : 'verifier';
        const pool = pools[name];
        // An offloaded pool's bookkeeping still forks, truncates and releases; only forward calls wait.
        const offloaded = pool.kv.isOffloaded;
        if (offloaded) opsWhileOffloaded++;
        const seqs = [...live[name].keys()];
        const pick = () => seqs[ri(seqs.length)];
        const r = rand();
        if (offloaded && (r < 0.45 || seqs.length === 0)) {
          // no forward call while offloaded
        } else if ((r < 0.12 && seqs.length < 16) || seqs.length === 0) {
          const base = history.length > 0 && rand() < 0.7 ? history[ri(history.length)] : [];
          const tokens = [...base.slice(0, ri(base.length + 1)), ...Array.from({ length: 1 + ri(10) }, () => ri(3))];
          const seq = pool.newSeq();
          live[name].set(seq, tokens);
          if (!(await compute(pool, stores[name], seq, tokens))) pool.release(seq);
        } else if (r < 0.45) {
          // Decode: a beam grows (after a preemption or release it takes back its cached prefix first).
          const seq = pick();
          const tokens = live[name].get(seq)!;
          tokens.push(...Array.from({ length: 1 + ri(5) }, () => ri(3)));
          if (!(await compute(pool, stores[name], seq, tokens))) pool.release(seq);
        } else if (r < 0.6) {
          if (seqs.length < 16) {
            const src = pick();
            const tokens = live[name].get(src)!;
            const length = ri(tokens.length + 1);
            live[name].set(pool.fork(src, length), tokens.slice(0, length));
          }
        } else if (r < 0.7) {
          const seq = pick();
          const tokens = live[name].get(seq)!;
          const length = ri(tokens.length + 1);
          tokens.length = length;
          pool.truncate(seq, length);
        } else if (r < 0.8) {
          const seq = pick();
          history.push(live[name].get(seq)!.slice());
          live[name].delete(seq);
          if (rand() < 0.5) pool.discard(seq);
          else pool.release(seq);
        } else if (r < 0.88) {
          pool.release(pick()); // preempted by the search: re-attaches on its next compute
        } else if (r < 0.94) {
          // The planner moves the split between iterations: copies first, then relocation or preemption.
          for (const n of ['generator', 'verifier'] as const) await runCopies(pools[n], stores[n]);
          const g = ri(arena.maxGeneratorPages + 1);
          await (rand() < 0.5 ? pools.generator.setCapacity(g) : pools.verifier.setCapacity(arena.verifierPagesFor(g)));
          stores.generator.scribble(arena.generator);
          stores.verifier.scribble(arena.verifier);
          splits++;
        }
        for (const n of ['generator', 'verifier'] as const) {
          arena.pool(n).checkInvariants();
          expect(pools[n].pagesInUse).toBeLessThanOrEqual(pools[n].capacity);
          if (pools[n].kv.isOffloaded) {
            expect(pools[n].takeCopies()).toEqual([]); // made on the host bytes at once
            continue;
          }
          // The search reads K/V only in a forward call, after the queued copies have run.
          await runCopies(pools[n], stores[n]);
          checkShadow(live[n], stores[n]);
        }
        expect(arena.committedBytes).toBeLessThanOrEqual(total);
        const [, gHi] = arena.generator.pageRange;
        const [vLo, vHi] = arena.verifier.pageRange;
        // The two pools never share a byte while both are on the device.
        if (vHi > vLo && !arena.offloading) expect(gHi * 8).toBeLessThanOrEqual(arena.verifierRegion.offsetBytes + vLo * 12);
      }
      expect(splits).toBeGreaterThan(0);
      expect(opsWhileOffloaded).toBeGreaterThan(50);
      const s = arena.stats();
      for (const st of [s.generator, s.verifier]) {
        expect(st.prefixHitTokens).toBeGreaterThan(0);
        expect(st.copyOnWriteCopies).toBeGreaterThan(0);
        expect(st.evictions).toBeGreaterThan(0);
      }
      expect(s.generator.relocatedPages + s.verifier.relocatedPages).toBeGreaterThan(0);
      expect(s.generator.recomputedTokens + s.verifier.recomputedTokens).toBeGreaterThan(0);
      expect(s.generator.hostTransferBytes + s.verifier.hostTransferBytes).toBeGreaterThan(0);
    }, 60_000);
  }

  it('a standalone pool shrunk below its live pages relocates or preempts them: no more in use than the cap', async () => {
    const pool = new SearchKvPool(16, 4);
    const store = new HostPageStore(16, 4);
    pool.kv.attach(store);
    const seqs = Array.from({ length: 3 }, () => pool.newSeq());
    const tokens = seqs.map((_, i) => Array.from({ length: 14 }, (_, j) => (i * 7 + j) % 5));
    for (let i = 0; i < 3; i++) expect(await compute(pool, store, seqs[i], tokens[i])).toBe(true);
    expect(pool.pagesReferenced).toBe(12);
    await pool.setCapacity(10);
    expect(pool.capacity).toBe(10);
    expect(pool.pagesInUse).toBeLessThanOrEqual(10);
    pool.kv.checkInvariants();
    // Survivors read back their K/V; a preempted sequence holds nothing and recomputes.
    const live = new Map(seqs.map((s, i) => [s, tokens[i]] as [KvSeq, number[]]).filter(([s]) => s.pages.length > 0));
    expect(live.size).toBe(2);
    checkShadow(live, store);
    expect(pool.stats.preemptions).toBe(1);
  });

  it("a search whose split moves or offloads every iteration (live pages relocated, preempted or sent to host memory) gives the roomy static run's results", async () => {
    const STATS: StepStatistics = { stepLengths: [2, 3, 3, 4, 4, 5, 6, 8, 12, 20], stepsPerSolution: [3, 4, 5, 6], stepErrorRate: 0.15 };
    const key = (r: SearchResult): string => JSON.stringify([r.answer, r.beams.map((b) => [b.text, b.score, b.completed, b.stepScores])]);
    const run = async (i: number, techniques: Techniques, arenaPages: number | null) => {
      const rand = mulberry32(77 + i);
      let env = syntheticEnv({ generatorPages: 4000, verifierPages: 4000, pageSize: 4, stats: STATS });
      let arena: KvArena | null = null;
      let offloads = 0;
      if (arenaPages !== null) {
        // One arena of arenaPages pages (1 byte each) for both models; each runner addresses the whole of it.
        arena = new KvArena({ totalBytes: arenaPages, pageSize: 4, generatorPageBytes: 1, verifierPageBytes: 1 });
        env = { ...syntheticEnv({ generatorPages: arenaPages, verifierPages: arenaPages, pageSize: 4, stats: STATS }), ...arenaSearchPools(arena) };
        arena.generator.attachIo(lentOut(env.generator as SyntheticRunner));
        arena.verifier.attachIo(lentOut(env.verifier as SyntheticRunner));
      }
      const result = await runSearch(
        env,
        defaultSearchOptions({
          method: 'beam',
          n: 8,
          beamWidth: 4,
          iterations: 5,
          techniques: { ...techniques, memoryPlanner: arena !== null },
          speculationBatch: 16,
          maxStepTokens: 64,
          sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 500 + i },
          // A planner stand-in: a random split between 30% and 70% of the arena, or offload mode, every iteration.
          planMemory: () => {
            const g = Math.floor(arenaPages! * (0.3 + 0.4 * rand()));
            const offload = rand() < 0.4;
            if (offload) offloads++;
            return { generatorPages: g, verifierPages: arenaPages! - g, offload };
          },
        }),
        syntheticProblem(i).problem,
      );
      if (arena) {
        // The search hands the arena back with both pools on the device.
        expect(arena.offloading).toBe(false);
        arena.generator.checkInvariants();
        arena.verifier.checkInvariants();
      }
      return { result, stats: arena?.stats(), offloads };
    };
    let relocated = 0,
      preempted = 0,
      hostBytes = 0,
      offloads = 0;
    for (let i = 0; i < 12; i++) {
      const roomy = key((await run(i, BASELINE_TECHNIQUES, null)).result);
      for (const techniques of [BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES]) {
        const r = await run(i, techniques, 120);
        expect(key(r.result), `problem ${i}`).toBe(roomy);
        relocated += r.stats!.generator.relocatedPages + r.stats!.verifier.relocatedPages;
        preempted += r.stats!.generator.preemptions + r.stats!.verifier.preemptions;
        hostBytes += r.stats!.generator.hostTransferBytes + r.stats!.verifier.hostTransferBytes;
        offloads += r.offloads;
      }
    }
    expect(relocated).toBeGreaterThan(0);
    expect(preempted).toBeGreaterThan(0);
    expect(offloads).toBeGreaterThan(10);
    expect(hostBytes).toBeGreaterThan(0);
  }, 60_000);
});
