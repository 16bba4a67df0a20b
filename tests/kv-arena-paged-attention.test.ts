// Paged attention through the KV pool's block tables (scattered pages, forks sharing pages, copied
// pages, cached prefixes reused, preempted sequences recomputed) gives exactly the logits of a
// contiguous single-sequence prefill, in the CPU reference runner.
import { describe, expect, it } from 'vitest';
import { KvPool } from '../src/runtime/kv-pool.ts';
import { forwardHeld, type HeldSeq } from './kv-page-store.ts';
import { CpuReferenceRunner } from '../src/runtime/cpu-reference.ts';
import { mulberry32, randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';

async function contiguousLogits(runner: CpuReferenceRunner, tokens: number[]): Promise<Float32Array> {
  const blockTable = Array.from({ length: Math.ceil(tokens.length / runner.pageSize) }, (_, i) => i);
  const r = await runner.forward({ chunks: [{ blockTable, start: 0, tokens, outputRows: [tokens.length - 1] }] });
  return r.logits!;
}

describe('paged attention through the KV arena (CPU reference)', () => {
  it('equals contiguous attention for scattered, shared, copied-on-write and recomputed pages', async () => {
    const source = randomModelSource(tinyConfigJson(), 7);
    const pageSize = 4;
    const paged = await CpuReferenceRunner.create(source, { weightFormat: 'f32', numPages: 40, pageSize });
    const contiguous = await CpuReferenceRunner.create(source, { weightFormat: 'f32', numPages: 16, pageSize });
    const pool = new KvPool('generator', pageSize, 40, 1);
    pool.attach(paged);
    const rand = mulberry32(11);
    const tok = () => 3 + Math.floor(rand() * 90);
    let compared = 0;

    const run = async (batch: HeldSeq[]) => {
      const V = paged.config.vocabSize;
      await forwardHeld(pool, paged, batch, async (chunks, running) => {
        const out = await paged.forward({ chunks });
        for (let k = 0; k < running.length; k++) {
          const want = await contiguousLogits(contiguous, running[k].tokens);
          expect(Array.from(out.logits!.subarray(k * V, (k + 1) * V))).toEqual(Array.from(want));
          compared++;
        }
      });
      pool.checkInvariants();
    };
    const held = (tokens: number[]): HeldSeq => ({ kv: pool.open(), tokens });
    const forkOf = (s: HeldSeq): HeldSeq => ({ kv: pool.forkAt(s.kv, s.tokens.length), tokens: s.tokens.slice() });

    // Scatter the free pages: junk sequences come and go.
    const junk = [0, 1, 2].map(() => held(Array.from({ length: 1 + Math.floor(rand() * 9) }, tok)));
    await run(junk);
    pool.release(junk[1].kv);
    const prompt = held(Array.from({ length: 10 }, tok));
    await run([prompt]);
    pool.release(junk[0].kv);
    // Three beams share the prompt's full pages; the partly filled last page is copied.
    const beams = [0, 1, 2].map(() => forkOf(prompt));
    pool.release(prompt.kv);
    for (let s = 0; s < 6; s++) {
      for (const b of beams) b.tokens.push(tok());
      await run(beams);
      if (s === 2) beams.push(forkOf(beams[0]));
    }
    expect(pool.stats().copyOnWriteCopies).toBeGreaterThan(0);
    expect(pool.stats().sharedPages).toBeGreaterThan(0);
    // A new sequence reuses the cached prefix of a finished beam.
    const done = beams.pop()!;
    pool.release(done.kv);
    const again = held([...done.tokens.slice(0, 12), tok()]);
    pool.attachPrefix(again.kv, again.tokens);
    expect(again.kv.computed).toBe(12);
    await run([again]);
    // A preempted beam is recomputed (its cached pages are evicted first) and still reads back right.
    pool.release(beams[0].kv);
    pool.countPreemption();
    pool.evict(100);
    beams[0].tokens.push(tok());
    await run([beams[0], beams[1]]);
    expect(pool.stats().recomputedTokens).toBeGreaterThan(0);
    expect(compared).toBeGreaterThan(20);
    // A long prompt prefilled in chunks of 5 tokens ends with the same logits.
    const long = held(Array.from({ length: 23 }, tok));
    let last: Float32Array | undefined;
    while (long.kv.computed < long.tokens.length) {
      const upTo = () => Math.min(long.tokens.length, long.kv.computed + 5);
      await forwardHeld(
        pool,
        paged,
        [long],
        async (chunks) => {
          expect(chunks[0].tokens.length).toBeLessThanOrEqual(5);
          last = (await paged.forward({ chunks })).logits!;
        },
        upTo,
      );
    }
    expect(Array.from(last!)).toEqual(Array.from(await contiguousLogits(contiguous, long.tokens)));
  }, 120_000);
});
