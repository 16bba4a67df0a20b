// Paged attention through the arena's block tables (scattered pages, forks sharing pages, copied-on-
// write pages, cached prefixes reused, preempted sequences recomputed) gives exactly the logits of a
// contiguous single-sequence prefill, in the CPU reference runner.
import { describe, expect, it } from 'vitest';
import { KvPool, type KvSequence } from '../src/runtime/kv-arena.ts';
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

    const run = async (batch: KvSequence[]) => {
      const res = await pool.schedule(batch);
      const out = await paged.forward({ chunks: res.chunks });
      pool.commit(res.scheduled);
      const V = paged.config.vocabSize;
      for (let k = 0; k < res.scheduled.length; k++) {
        const want = await contiguousLogits(contiguous, res.scheduled[k].tokens);
        expect(Array.from(out.logits!.subarray(k * V, (k + 1) * V))).toEqual(Array.from(want));
        compared++;
      }
      pool.checkInvariants();
    };

    // Scatter the free pages: junk sequences come and go.
    const junk = [0, 1, 2].map(() => pool.create(Array.from({ length: 1 + Math.floor(rand() * 9) }, tok)));
    await run(junk);
    pool.free(junk[1]);
    const prompt = pool.create(Array.from({ length: 10 }, tok));
    await run([prompt]);
    pool.free(junk[0]);
    // Three beams share the prompt's pages; the partly filled last page is copied on write.
    const beams = pool.fork(prompt, 3);
    pool.free(prompt);
    for (let s = 0; s < 6; s++) {
      for (const b of beams) pool.append(b, [tok()]);
      await run(beams);
      if (s === 2) beams.push(...pool.fork(beams[0], 1));
    }
    expect(pool.stats().copyOnWriteCopies).toBeGreaterThan(0);
    expect(pool.stats().sharedPages).toBeGreaterThan(0);
    // A new sequence reuses the cached prefix of a finished beam.
    const done = beams.pop()!;
    const doneTokens = done.tokens.slice();
    pool.free(done);
    const again = pool.create([...doneTokens.slice(0, 12), tok()]);
    expect(again.computed).toBe(12);
    await run([again]);
    // A preempted beam is recomputed (its cached pages are evicted first) and still reads back right.
    pool.preempt(beams[0]);
    pool.evict(100);
    pool.append(beams[0], [tok()]);
    await run([beams[0], beams[1]]);
    expect(pool.stats().recomputedTokens).toBeGreaterThan(0);
    expect(compared).toBeGreaterThan(20);
    // A long prompt prefilled in chunks of 5 tokens (schedule's token limit) ends with the same logits.
    const long = pool.create(Array.from({ length: 23 }, tok));
    let last: Float32Array | undefined;
    while (long.pending > 0) {
      const res = await pool.schedule([long], 5);
      expect(res.chunks[0].tokens.length).toBeLessThanOrEqual(5);
      last = (await paged.forward({ chunks: res.chunks })).logits!;
      pool.commit(res.scheduled);
    }
    expect(Array.from(last!)).toEqual(Array.from(await contiguousLogits(contiguous, long.tokens)));
  }, 120_000);
});
