import { describe, expect, it } from 'vitest';
import { KvArena, KvPool, type KvSequence } from '../src/runtime/kv-arena.ts';
import { OutOfMemoryError } from '../src/errors.ts';
import { mulberry32 } from '../src/model/random-model.ts';

import { HostPageStore, tokenKv } from './kv-page-store.ts';

/** schedule + checked write + commit, as the search drives a forward call. */
async function step(pool: KvPool, store: HostPageStore, batch: KvSequence[], maxTokens = Infinity) {
  const res = await pool.schedule(batch, maxTokens);
  const total = res.chunks.reduce((a, c) => a + c.tokens.length, 0);
  if (total > maxTokens) throw new Error(`${total} tokens scheduled, limit ${maxTokens}`);
  const writers = new Map<number, number>();
  res.scheduled.forEach((seq, k) => {
    const c = res.chunks[k];
    for (let pos = c.start; pos < c.start + c.tokens.length; pos++) {
      const page = c.blockTable[Math.floor(pos / pool.pageSize)];
      // No page has two writers: the page written is this sequence's alone, and not a cached prefix page.
      if (pool.referencesOf(page) !== 1 || pool.isCached(page)) throw new Error(`page ${page} written while shared or cached`);
      if ((writers.get(page) ?? seq.id) !== seq.id) throw new Error(`page ${page} written by two sequences`);
      writers.set(page, seq.id);
    }
    store.write(c, seq.tokens);
  });
  pool.commit(res.scheduled);
  return res;
}

function checkKv(pool: KvPool, store: HostPageStore): void {
  for (const seq of pool.sequences) {
    for (let pos = 0; pos < seq.computed; pos++) {
      const got = store.read(seq.blockTable, pos);
      const want = tokenKv(seq.tokens, pos);
      if (got.some((v, j) => v !== want[j])) throw new Error(`sequence ${seq.id} position ${pos}: K/V differs from its contiguous shadow`);
    }
  }
}

describe('KvPool basics', () => {
  it('reuses a cached prefix for a new sequence and counts prefix hits', async () => {
    const pool = new KvPool('generator', 4, 32, 1);
    const store = new HostPageStore(32, 4);
    pool.attach(store);
    const a = pool.create([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await step(pool, store, [a]);
    pool.free(a);
    expect(pool.stats().cachedPages).toBe(2); // two full pages stay cached, the partial one is freed
    const b = pool.create([1, 2, 3, 4, 5, 6, 7, 8, 42]);
    expect(b.computed).toBe(8);
    expect(pool.stats().prefixHitTokens).toBe(8);
    // A prompt that is exactly the cached pages still leaves one token to compute (for its logits).
    const c = pool.create([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(c.computed).toBe(4);
    await step(pool, store, [b, c]);
    checkKv(pool, store);
    pool.checkInvariants();
  });

  it('counts shared pages now and at their peak; resetPeak starts a new peak', async () => {
    const pool = new KvPool('generator', 4, 32, 1);
    const store = new HostPageStore(32, 4);
    pool.attach(store);
    const a = pool.create([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await step(pool, store, [a]);
    expect(pool.stats()).toMatchObject({ sharedPages: 0, peakSharedPages: 0 });
    const kids = pool.fork(a, 2); // every page of a (two full, one partial) now has three holders
    expect(pool.stats()).toMatchObject({ sharedPages: 3, peakSharedPages: 3 });
    for (const k of kids) pool.append(k, [20 + k.id]);
    await step(pool, store, kids); // the partial page is copied on write for both children
    expect(pool.stats()).toMatchObject({ sharedPages: 2, peakSharedPages: 3 });
    pool.free(a);
    pool.free(kids[0]);
    expect(pool.stats()).toMatchObject({ sharedPages: 0, peakSharedPages: 3 });
    pool.resetPeak();
    expect(pool.stats().peakSharedPages).toBe(0);
    pool.checkInvariants();
  });

  it('forks by reference and copies a shared partly filled page only on write', async () => {
    const pool = new KvPool('generator', 4, 32, 1);
    const store = new HostPageStore(32, 4);
    pool.attach(store);
    const a = pool.create([5, 6, 7, 8, 9, 10]);
    await step(pool, store, [a]);
    const used = pool.stats().pagesInUse;
    const [b, c] = pool.fork(a, 2);
    expect(pool.stats().pagesInUse).toBe(used);
    expect(pool.stats().sharedPages).toBe(2);
    pool.append(b, [1]);
    pool.append(c, [2]);
    await step(pool, store, [b, c]);
    expect(pool.stats().copyOnWriteCopies).toBe(2);
    pool.free(a);
    pool.append(b, [3]);
    await step(pool, store, [b]); // b's page is its own now: no copy
    expect(pool.stats().copyOnWriteCopies).toBe(2);
    checkKv(pool, store);
    pool.checkInvariants();
  });

  it('evicts least recently used cached pages first', async () => {
    const pool = new KvPool('generator', 2, 6, 1);
    const store = new HostPageStore(6, 2);
    pool.attach(store);
    const a = pool.create([1, 1, 1, 1, 9]);
    const b = pool.create([2, 2, 2, 2, 9]);
    await step(pool, store, [a]);
    await step(pool, store, [b]);
    pool.free(a);
    pool.free(b);
    pool.create([1, 1, 1, 1, 7]); // touches a's prefix
    expect(pool.evict(2)).toBe(2); // b's two pages go, a's stay
    const again = pool.create([1, 1, 1, 1, 3]);
    expect(again.computed).toBe(4);
    expect(pool.create([2, 2, 2, 2, 3]).computed).toBe(0);
    pool.checkInvariants();
  });

  it('preempts instead of running out of pages, and counts the recomputed tokens', async () => {
    const pool = new KvPool('generator', 4, 6, 1);
    const store = new HostPageStore(6, 4);
    pool.attach(store);
    const low = pool.create([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], -1);
    await step(pool, store, [low]);
    const high = pool.create([9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9], 1);
    const r = await step(pool, store, [high]);
    expect(r.scheduled).toEqual([high]);
    expect(low.state).toBe('preempted');
    pool.free(high);
    pool.evict(100);
    pool.append(low, [13]);
    await step(pool, store, [low]);
    expect(pool.stats().preemptions).toBe(1);
    expect(pool.stats().recomputedTokens).toBe(12);
    checkKv(pool, store);
    pool.checkInvariants();
  });

  it('throws OutOfMemoryError only for a sequence larger than the pool', async () => {
    const pool = new KvPool('generator', 4, 3, 1);
    pool.attach(new HostPageStore(3, 4));
    const big = pool.create(Array.from({ length: 13 }, (_, i) => i));
    await expect(pool.schedule([big])).rejects.toThrow(OutOfMemoryError);
    pool.truncate(big, 12);
    expect((await pool.schedule([big])).scheduled).toEqual([big]);
  });

  it('forking 64 beams from a 1,000-token prefix allocates at most 64 new pages', async () => {
    const pool = new KvPool('generator', 16, 256, 1);
    const store = new HostPageStore(256, 16);
    pool.attach(store);
    const prompt = pool.create(Array.from({ length: 1000 }, (_, i) => (i * 7919) % 151936));
    await step(pool, store, [prompt]);
    const before = pool.stats().pagesInUse;
    const beams = pool.fork(prompt, 64);
    pool.free(prompt);
    beams.forEach((b, i) => pool.append(b, [i]));
    await step(pool, store, beams);
    const allocated = pool.stats().pagesInUse - before + 1; // + the prompt's last page, now a beam's own
    expect(allocated).toBeLessThanOrEqual(64);
    expect(pool.stats().pagesInUse - before).toBeLessThanOrEqual(64);
    checkKv(pool, store);
    pool.checkInvariants();
  });
});

describe('KvArena: two pools in one buffer', () => {
  it('generatorPagesBeside gives the most generator pages that leave the verifier what it asks', () => {
    for (const separateGeneratorBytes of [undefined, 500]) {
      const arena = new KvArena({ totalBytes: 1000, pageSize: 4, generatorPageBytes: 10, verifierPageBytes: 30, separateGeneratorBytes });
      for (let v = 0; v <= arena.verifierPagesFor(0); v++) {
        const g = arena.generatorPagesBeside(v);
        expect(arena.verifierPagesFor(g)).toBeGreaterThanOrEqual(v);
        if (g < arena.maxGeneratorPages) expect(arena.verifierPagesFor(g + 1)).toBeLessThan(v);
        expect(g * 10 + arena.verifierPagesFor(g) * 30).toBeLessThanOrEqual(1000);
      }
    }
  });

  it('moves the split through free pages without copying', async () => {
    const arena = new KvArena({ totalBytes: 1000, pageSize: 4, generatorPageBytes: 10, verifierPageBytes: 20, generatorPages: 50 });
    expect(arena.generator.capacityPages).toBe(50);
    expect(arena.verifier.capacityPages).toBe(25);
    const store = new HostPageStore(100, 4);
    arena.generator.attach(store);
    const a = arena.generator.create(Array.from({ length: 40 }, (_, i) => i));
    await step(arena.generator, store, [a]);
    await arena.setSplit(20); // a holds generator pages 0..9: nothing to move
    expect(arena.generator.stats().relocatedPages).toBe(0);
    expect(arena.verifier.capacityPages).toBe(40);
    await arena.setSplit(90);
    expect(arena.verifier.capacityPages).toBe(5);
    expect(arena.committedBytes).toBeLessThanOrEqual(1000);
    checkKv(arena.generator, store);
  });

  it('relocates live pages when a pool shrinks past them, keeping their K/V', async () => {
    const pool = new KvPool('verifier', 4, 20, 1); // verifier: grows down from the top ids
    const store = new HostPageStore(20, 4);
    pool.attach(store);
    const a = pool.create(Array.from({ length: 30 }, (_, i) => i % 5));
    await step(pool, store, [a]);
    expect(Math.min(...a.blockTable)).toBeGreaterThanOrEqual(12);
    await pool.setRange(0, 10);
    expect(Math.max(...a.blockTable)).toBeLessThan(10);
    expect(pool.stats().relocatedPages).toBe(8);
    checkKv(pool, store);
    pool.checkInvariants();
  });
});

describe('the invariant checks can fail', () => {
  it('catches a wrong reference count and a page held twice', async () => {
    const pool = new KvPool('generator', 4, 8, 1);
    pool.attach(new HostPageStore(8, 4));
    const a = pool.create([1, 2, 3, 4, 5]);
    await pool.schedule([a]);
    pool.commit([a]);
    pool.checkInvariants();
    (pool as unknown as { refCount: Int32Array }).refCount[a.blockTable[0]]++;
    expect(() => pool.checkInvariants()).toThrow(/reference count/);
    (pool as unknown as { refCount: Int32Array }).refCount[a.blockTable[0]]--;
    a.blockTable[1] = a.blockTable[0];
    expect(() => pool.checkInvariants()).toThrow(/twice/);
  });
});

describe('KvArena property test (seeded random operations)', () => {
  // Seeds 1-3: one buffer (pools grow toward each other); seed 4: two buffers (a pool per buffer).
  for (const seed of [1, 2, 3, 4]) {
    it(`keeps every invariant over 3000 operations, seed ${seed}${seed === 4 ? ', two buffers' : ''}`, async () => {
      const rand = mulberry32(seed);
      const ri = (n: number) => Math.floor(rand() * n);
      const pageSize = 4;
      const arena = new KvArena({ totalBytes: 120 * 8, pageSize, generatorPageBytes: 8, verifierPageBytes: 12, separateGeneratorBytes: seed === 4 ? 70 * 8 : undefined });
      const separate = seed === 4;
      const stores = {
        generator: new HostPageStore(arena.generatorRegion.numPages, pageSize),
        verifier: new HostPageStore(arena.verifierRegion.numPages, pageSize),
      };
      arena.generator.attach(stores.generator);
      arena.verifier.attach(stores.verifier);
      const history: number[][] = [];
      let ooms = 0;
      for (let op = 0; op < 3000; op++) {
        const name = rand() < 0.6 ? 'generator' : 'verifier';
        const pool = arena.pool(name);
        if (rand() < 0.03) {
          // Offload mode: one pool on the device, the other's K/V in host memory; then back to sharing.
          if (rand() < 0.5) {
            await arena.activate(name, stores);
            stores.generator.scribble(arena.generator);
            stores.verifier.scribble(arena.verifier);
          } else {
            const fits = [...Array(arena.maxGeneratorPages + 1).keys()].filter((g) => g >= arena.generator.offloadedPages && arena.verifierPagesFor(g) >= arena.verifier.offloadedPages);
            await arena.share(fits[ri(fits.length)], stores);
          }
        }
        if (pool.isOffloaded) continue;
        const seqs = [...pool.sequences];
        const pick = () => seqs[ri(seqs.length)];
        const r = rand();
        if ((r < 0.12 && seqs.length < 24) || seqs.length === 0) {
          const base = history.length > 0 && rand() < 0.7 ? history[ri(history.length)] : [];
          const toks = [...base.slice(0, ri(base.length + 1)), ...Array.from({ length: 1 + ri(10) }, () => ri(3))];
          pool.create(toks, ri(3) - 1);
        } else if (r < 0.35) {
          pool.append(pick(), Array.from({ length: 1 + ri(6) }, () => ri(3)));
        } else if (r < 0.55) {
          const batch = seqs.filter(() => rand() < 0.5);
          try {
            await step(pool, stores[name], batch, rand() < 0.5 ? Infinity : 1 + ri(12));
          } catch (e) {
            if (!(e instanceof OutOfMemoryError)) throw e;
            ooms++;
            const big = batch.find((s) => s.state === "live" && Math.ceil(s.length / pageSize) > pool.capacityPages)!;
            expect(big).toBeDefined();
            pool.free(big);
          }
        } else if (r < 0.65) {
          if (seqs.length < 24) pool.fork(pick(), 1 + ri(4));
        } else if (r < 0.77) {
          const s = pick();
          history.push(s.tokens.slice());
          pool.free(s);
        } else if (r < 0.83) {
          const s = pick();
          if (s.scheduledTo < 0) pool.truncate(s, ri(s.length + 1));
        } else if (r < 0.88) {
          pool.evict(1 + ri(4));
        } else if (r < 0.94) {
          pool.preempt(pick());
        } else if (!arena.generator.isOffloaded && !arena.verifier.isOffloaded) {
          await arena.setSplit(ri(arena.maxGeneratorPages + 1));
          stores.generator.scribble(arena.generator);
          stores.verifier.scribble(arena.verifier);
        }
        for (const n of ['generator', 'verifier'] as const) {
          arena.pool(n).checkInvariants();
          if (!arena.pool(n).isOffloaded) checkKv(arena.pool(n), stores[n]);
        }
        const [gLo, gHi] = arena.generator.pageRange;
        const [vLo] = arena.verifier.pageRange;
        expect(gLo).toBe(0);
        // Memory never exceeds the budget, and the two pools never share a byte (or a pool outgrows its
        // buffer) while both are on the device; in offload mode the resident pool has the whole arena.
        if (arena.offloading) expect(arena.generator.isOffloaded && arena.verifier.isOffloaded).toBe(false);
        else if (separate) expect(gHi * 8 + (arena.verifierRegion.numPages - vLo) * 12).toBeLessThanOrEqual(120 * 8);
        else expect(gHi * 8).toBeLessThanOrEqual(arena.verifierRegion.offsetBytes + vLo * 12);
        expect(arena.committedBytes).toBeLessThanOrEqual(120 * 8);
      }
      const g = arena.generator.stats();
      const v = arena.verifier.stats();
      // The run exercised every path.
      for (const st of [g, v]) {
        expect(st.prefixHitTokens).toBeGreaterThan(0);
        expect(st.copyOnWriteCopies).toBeGreaterThan(0);
        expect(st.preemptions).toBeGreaterThan(0);
        expect(st.evictions).toBeGreaterThan(0);
      }
      expect(g.recomputedTokens + v.recomputedTokens).toBeGreaterThan(0);
      expect(g.hostTransferBytes + v.hostTransferBytes).toBeGreaterThan(0);
      expect(ooms).toBeGreaterThan(0); // the too-long-sequence path ran too
    }, 60_000);
  }
});
