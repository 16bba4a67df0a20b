// The KV pool's sequence API (the one the search drives) and the arena's two pools: prefix reuse,
// shared and copied pages, LRU eviction, room made by the caller's preemption, relocation when a pool
// shrinks, and a seeded property test over the arena with splits and offload mode.
import { describe, expect, it } from 'vitest';
import { KvArena } from '../src/runtime/kv-arena.ts';
import { KvPool } from '../src/runtime/kv-pool.ts';
import { mulberry32 } from '../src/model/random-model.ts';
import { HostPageStore, checkHeld, forwardHeld, type HeldSeq } from './kv-page-store.ts';

/** A pool over a host page store, and its forward call: every pending token's K/V written through the block tables. */
function poolWithStore(pageSize: number, pages: number) {
  const pool = new KvPool('generator', pageSize, pages, 1);
  const store = new HostPageStore(pages, pageSize);
  pool.attach(store);
  const held = (tokens: number[]): HeldSeq => ({ kv: pool.open(), tokens });
  const step = (seqs: HeldSeq[]) => forwardHeld(pool, store, seqs, async (chunks, running) => chunks.forEach((c, k) => store.write(c, running[k].tokens)));
  return { pool, store, held, step };
}

describe('KvPool: the sequence API', () => {
  it('reuses a cached prefix for a new sequence and counts prefix hits', async () => {
    const { pool, store, held, step } = poolWithStore(4, 32);
    const a = held([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await step([a]);
    pool.release(a.kv);
    expect(pool.stats().cachedPages).toBe(2); // two full pages stay cached, the partial one is freed
    const b = held([1, 2, 3, 4, 5, 6, 7, 8, 42]);
    pool.attachPrefix(b.kv, b.tokens);
    expect(b.kv.computed).toBe(8);
    expect(pool.stats().prefixHitTokens).toBe(8);
    // A prompt that is exactly the cached pages still leaves one token to compute (for its logits).
    const c = held([1, 2, 3, 4, 5, 6, 7, 8]);
    pool.attachPrefix(c.kv, c.tokens);
    expect(c.kv.computed).toBe(4);
    expect(pool.cachedPrefix([1, 2, 3, 4, 5, 6, 7, 8, 9])).toBe(8);
    await step([b, c]);
    checkHeld([b, c], store);
    pool.checkInvariants();
  });

  it('counts shared pages now and at their peak; resetPeak starts a new peak', async () => {
    const { pool, held, step } = poolWithStore(4, 32);
    const a = held([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await step([a]);
    expect(pool.stats()).toMatchObject({ sharedPages: 0, peakSharedPages: 0 });
    // Two forks share a's two full pages (three holders each) and copy its partly filled one.
    const kids = [pool.forkAt(a.kv, 9), pool.forkAt(a.kv, 9)].map((kv, i) => ({ kv, tokens: [...a.tokens, 20 + i] }));
    expect(pool.stats()).toMatchObject({ sharedPages: 2, peakSharedPages: 2, copyOnWriteCopies: 2 });
    await step(kids);
    pool.release(a.kv);
    pool.release(kids[0].kv);
    expect(pool.stats()).toMatchObject({ sharedPages: 0, peakSharedPages: 2 });
    pool.resetPeak();
    expect(pool.stats().peakSharedPages).toBe(0);
    pool.checkInvariants();
  });

  it('forks by reference, copying only the partly filled page; truncating into a shared page copies it first', async () => {
    const { pool, store, held, step } = poolWithStore(4, 32);
    const a = held([5, 6, 7, 8, 9, 10]);
    await step([a]);
    const used = pool.stats().pagesInUse;
    const b = { kv: pool.forkAt(a.kv, 6), tokens: [...a.tokens, 1] };
    const c = { kv: pool.forkAt(a.kv, 6), tokens: [...a.tokens, 2] };
    expect(pool.stats().pagesInUse).toBe(used + 2);
    expect(pool.stats().sharedPages).toBe(1);
    expect(pool.stats().copyOnWriteCopies).toBe(2);
    await step([b, c]);
    expect(pool.stats().copyOnWriteCopies).toBe(2); // b's and c's last pages are their own
    const d = { kv: pool.forkAt(b.kv, 4), tokens: b.tokens.slice(0, 4) };
    pool.truncateTo(b.kv, 2); // b's first page is shared with a, c and d: b gets a copy of its first two tokens
    b.tokens.length = 2;
    expect(pool.stats().copyOnWriteCopies).toBe(3);
    b.tokens.push(77, 78, 79);
    await step([b, d]);
    checkHeld([a, b, c, d], store);
    pool.checkInvariants();
  });

  it('evicts least recently used cached pages first', async () => {
    const { pool, held, step } = poolWithStore(2, 6);
    const a = held([1, 1, 1, 1, 9]);
    const b = held([2, 2, 2, 2, 9]);
    await step([a]);
    await step([b]);
    pool.release(a.kv);
    pool.release(b.kv);
    pool.attachPrefix(pool.open(), [1, 1, 1, 1, 7]); // touches a's prefix
    expect(pool.evict(2)).toBe(2); // b's two pages go, a's stay
    expect(pool.cachedPrefix([1, 1, 1, 1, 3])).toBe(4);
    expect(pool.cachedPrefix([2, 2, 2, 2, 3])).toBe(0);
    expect(pool.stats().evictions).toBe(2);
    pool.checkInvariants();
  });

  it('refuses what it cannot hold; room made by the caller preempting a sequence, whose lost tokens count as recomputed', async () => {
    const { pool, store, held, step } = poolWithStore(4, 6);
    const low = held([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    await step([low]);
    const high = held(Array(13).fill(9));
    expect(pool.reserve(high.kv, 13)).toBe(false);
    pool.release(low.kv); // the search's preemption: its full pages stay cached until evicted
    pool.countPreemption();
    expect(await step([high])).toEqual([high]);
    pool.release(high.kv);
    pool.evict(100);
    low.tokens.push(13);
    await step([low]);
    expect(pool.stats().preemptions).toBe(1);
    expect(pool.stats().recomputedTokens).toBe(12);
    checkHeld([low], store);
    // Nothing but a sequence longer than the pool is refused when the pool is empty.
    pool.release(low.kv);
    const big = pool.open();
    expect(pool.reserve(big, 25)).toBe(false);
    expect(pool.reserve(big, 24)).toBe(true);
    pool.checkInvariants();
  });

  it('forking 64 beams from a 1,000-token prefix allocates at most 64 new pages', async () => {
    const { pool, store, held, step } = poolWithStore(16, 256);
    const prompt = held(Array.from({ length: 1000 }, (_, i) => (i * 7919) % 151936));
    await step([prompt]);
    const before = pool.stats().pagesInUse;
    const beams = Array.from({ length: 64 }, (_, i) => ({ kv: pool.forkAt(prompt.kv, 1000), tokens: [...prompt.tokens, i] }));
    pool.release(prompt.kv);
    await step(beams);
    expect(pool.stats().pagesInUse - before).toBeLessThanOrEqual(64);
    checkHeld(beams, store);
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
    const a = { kv: arena.generator.open(), tokens: Array.from({ length: 40 }, (_, i) => i) };
    await forwardHeld(arena.generator, store, [a], async (chunks) => store.write(chunks[0], a.tokens));
    await arena.setSplit(20); // a holds generator pages 0..9: nothing to move
    expect(arena.generator.stats().relocatedPages).toBe(0);
    expect(arena.verifier.capacityPages).toBe(40);
    await arena.setSplit(90);
    expect(arena.verifier.capacityPages).toBe(5);
    expect(arena.committedBytes).toBeLessThanOrEqual(1000);
    checkHeld([a], store);
  });

  it('relocates live pages when a pool shrinks past them, keeping their K/V', async () => {
    const pool = new KvPool('verifier', 4, 20, 1); // verifier: grows down from the top ids
    const store = new HostPageStore(20, 4);
    pool.attach(store);
    const a = { kv: pool.open(), tokens: Array.from({ length: 30 }, (_, i) => i % 5) };
    await forwardHeld(pool, store, [a], async (chunks) => store.write(chunks[0], a.tokens));
    expect(Math.min(...a.kv.blockTable)).toBeGreaterThanOrEqual(12);
    await pool.setRange(0, 10);
    expect(Math.max(...a.kv.blockTable)).toBeLessThan(10);
    expect(pool.stats().relocatedPages).toBe(8);
    checkHeld([a], store);
    pool.checkInvariants();
  });
});

describe('the invariant checks can fail', () => {
  it('catches a wrong reference count and a page held twice', () => {
    const pool = new KvPool('generator', 4, 8, 1);
    const a = pool.open();
    expect(pool.reserve(a, 5)).toBe(true);
    pool.commitTokens(a, [1, 2, 3, 4, 5], 5);
    pool.checkInvariants();
    const counts = (pool as unknown as { pages: { refCount: Int32Array } }).pages.refCount;
    counts[a.blockTable[0]]++;
    expect(() => pool.checkInvariants()).toThrow(/reference count/);
    counts[a.blockTable[0]]--;
    a.blockTable[1] = a.blockTable[0];
    expect(() => pool.checkInvariants()).toThrow(/twice/);
  });
});

describe('KvArena property test (seeded random operations on the sequence API)', () => {
  // Seeds 1-3: one buffer (pools grow toward each other); seed 4: two buffers (a pool per buffer).
  for (const seed of [1, 2, 3, 4]) {
    it(`keeps every invariant over 3000 operations, seed ${seed}${seed === 4 ? ', two buffers' : ''}`, async () => {
      const rand = mulberry32(seed);
      const ri = (n: number) => Math.floor(rand() * n);
      const pageSize = 4;
      const separate = seed === 4;
      const arena = new KvArena({
        totalBytes: 120 * 8,
        pageSize,
        generatorPageBytes: 8,
        verifierPageBytes: 12,
        separateGeneratorBytes: separate ? 70 * 8 : undefined,
      });
      const stores = {
        generator: new HostPageStore(arena.generatorRegion.numPages, pageSize),
        verifier: new HostPageStore(arena.verifierRegion.numPages, pageSize),
      };
      arena.generator.attach(stores.generator);
      arena.verifier.attach(stores.verifier);
      const live = { generator: [] as HeldSeq[], verifier: [] as HeldSeq[] };
      const history: number[][] = [];
      let refused = 0;
      const drop = (name: 'generator' | 'verifier', s: HeldSeq) => live[name].splice(live[name].indexOf(s), 1);
      for (let op = 0; op < 3000; op++) {
        const name = rand() < 0.6 ? 'generator' : 'verifier';
        const pool = arena.pool(name);
        const store = stores[name];
        if (rand() < 0.03) {
          // Offload mode: one pool on the device, the other's K/V in host memory; then back to sharing.
          for (const n of ['generator', 'verifier'] as const) await forwardHeld(arena.pool(n), stores[n], [], async () => {});
          if (rand() < 0.5) {
            await arena.activate(name, stores);
            stores.generator.scribble(arena.generator);
            stores.verifier.scribble(arena.verifier);
          } else {
            const fits = [...Array(arena.maxGeneratorPages + 1).keys()].filter(
              (g) => g >= arena.generator.offloadedPages && arena.verifierPagesFor(g) >= arena.verifier.offloadedPages,
            );
            await arena.share(fits[ri(fits.length)], stores);
          }
        }
        if (pool.isOffloaded) continue;
        const seqs = live[name];
        const pick = () => seqs[ri(seqs.length)];
        const r = rand();
        if ((r < 0.12 && seqs.length < 24) || seqs.length === 0) {
          const base = history.length > 0 && rand() < 0.7 ? history[ri(history.length)] : [];
          seqs.push({ kv: pool.open(), tokens: [...base.slice(0, ri(base.length + 1)), ...Array.from({ length: 1 + ri(10) }, () => ri(3))] });
        } else if (r < 0.35) {
          pick().tokens.push(...Array.from({ length: 1 + ri(6) }, () => ri(3)));
        } else if (r < 0.55) {
          // A forward call over some sequences, a long one cut to a few tokens (chunked prefill).
          const batch = seqs.filter(() => rand() < 0.5);
          const limit = rand() < 0.5 ? Infinity : 1 + ri(12);
          const ran = await forwardHeld(
            pool,
            store,
            batch,
            async (chunks, running) => chunks.forEach((c, k) => store.write(c, running[k].tokens)),
            (s) => Math.min(s.tokens.length, s.kv.computed + limit),
          );
          for (const s of batch.filter((b) => !ran.includes(b))) {
            // No room: the caller preempts it (a sequence longer than the whole pool is dropped).
            refused++;
            pool.release(s.kv);
            pool.countPreemption();
            if (Math.ceil(s.tokens.length / pageSize) > pool.capacityPages) drop(name, s);
          }
        } else if (r < 0.65) {
          if (seqs.length < 24) {
            const src = pick();
            const length = ri(src.tokens.length + 1);
            seqs.push({ kv: pool.forkAt(src.kv, length), tokens: src.tokens.slice(0, length) });
          }
        } else if (r < 0.77) {
          const s = pick();
          history.push(s.tokens.slice());
          drop(name, s);
          if (rand() < 0.5) pool.discard(s.kv);
          else pool.release(s.kv);
        } else if (r < 0.83) {
          const s = pick();
          s.tokens.length = ri(s.tokens.length + 1);
          pool.truncateTo(s.kv, s.tokens.length);
        } else if (r < 0.88) {
          pool.evict(1 + ri(4));
        } else if (r < 0.94) {
          pool.release(pick().kv); // preempted: takes its cached prefix back on its next forward
          pool.countPreemption();
        } else if (!arena.generator.isOffloaded && !arena.verifier.isOffloaded) {
          for (const n of ['generator', 'verifier'] as const) await forwardHeld(arena.pool(n), stores[n], [], async () => {});
          await arena.setSplit(ri(arena.maxGeneratorPages + 1));
          stores.generator.scribble(arena.generator);
          stores.verifier.scribble(arena.verifier);
        }
        for (const n of ['generator', 'verifier'] as const) {
          arena.pool(n).checkInvariants();
          if (arena.pool(n).isOffloaded) continue;
          // K/V is read only in a forward call, after the queued copies have run.
          await forwardHeld(arena.pool(n), stores[n], [], async () => {});
          checkHeld(live[n], stores[n]);
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
      expect(refused).toBeGreaterThan(0); // the no-room path ran too
    }, 60_000);
  }
});
