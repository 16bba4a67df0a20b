// The KV arena in one GPUBuffer shared by two WebGPU runners (a generator and a PRM of a different
// shape): every output matches the CPU reference run on contiguous pages, through forks (copy-on-write
// by the GPU copy kernel), split moves (relocation), and offload to host memory and back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type GpuContext } from '../src/gpu/device.ts';
import { createGpuKvArena, planGpuArenaLayout } from '../src/runtime/gpu-arena.ts';
import { createWebGpuRunner } from '../src/runtime/webgpu-runner.ts';
import { CpuReferenceRunner } from '../src/runtime/cpu-reference.ts';
import { mulberry32, randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { kvBytesPerToken, parseQwen2Config } from '../src/model/config.ts';
import { kvBytesPerElement } from '../src/gpu/kv-dtype.ts';
import { KvArena } from '../src/runtime/kv-arena.ts';
import { maxRelativeDiff, MODEL_LOGITS_TOLERANCE } from '../src/testing/model-checks.ts';
import type { KvPool } from '../src/runtime/kv-pool.ts';
import { forwardHeld, type HeldSeq } from './kv-page-store.ts';
import type { ModelRunner } from '../src/runtime/types.ts';

const genConfig = parseQwen2Config(tinyConfigJson());
const verConfig = parseQwen2Config(tinyConfigJson({ architectures: ['Qwen2ForPrmModel'], num_hidden_layers: 3 }));

describe('GPU arena layout', () => {
  const MiB = 2 ** 20;
  it('uses one buffer when the arena fits maxBufferSize, windows of the binding limit per pool', () => {
    const l = planGpuArenaLayout(
      { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB, minStorageBufferOffsetAlignment: 256 },
      { totalBytes: 200 * MiB, generator: genConfig, verifier: verConfig },
    );
    expect(l.bufferBytes).toEqual([200 * MiB]);
    expect(l.arenaOptions.maxRegionBytes).toBe(128 * MiB);
    expect(l.reason).toMatch(/one buffer/);
  });
  it('f16 K/V (the default) makes pages half the bytes of f32: the same arena holds twice the pages', () => {
    const limits = { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB, minStorageBufferOffsetAlignment: 256 };
    const plan = (kvDtype?: 'f16' | 'f32') =>
      planGpuArenaLayout(limits, { totalBytes: 3 * MiB, kvDtype, generator: genConfig, verifier: verConfig }).arenaOptions;
    const [f16, f32, byDefault] = [plan('f16'), plan('f32'), plan()];
    expect(byDefault).toEqual(f16);
    expect(f16.generatorPageBytes * 2).toBe(f32.generatorPageBytes);
    expect(f16.verifierPageBytes * 2).toBe(f32.verifierPageBytes);
    expect(f16.generatorPageBytes).toBe(16 * kvBytesPerToken(genConfig, 2));
    const pages = (o: typeof f16) => new KvArena(o).maxGeneratorPages;
    expect(pages(f16)).toBeGreaterThanOrEqual(2 * pages(f32));
  });
  it('caps an arena no pair of bindings can address, and splits into two buffers past maxBufferSize', () => {
    const capped = planGpuArenaLayout(
      { maxBufferSize: 1024 * MiB, maxStorageBufferBindingSize: 128 * MiB, minStorageBufferOffsetAlignment: 256 },
      { totalBytes: 400 * MiB, generator: genConfig, verifier: verConfig },
    );
    expect(capped.bufferBytes).toEqual([256 * MiB]);
    expect(capped.reason).toMatch(/capped/);
    const two = planGpuArenaLayout(
      { maxBufferSize: 100 * MiB, maxStorageBufferBindingSize: 128 * MiB, minStorageBufferOffsetAlignment: 256 },
      { totalBytes: 180 * MiB, generator: genConfig, verifier: verConfig },
    );
    expect(two.bufferBytes).toHaveLength(2);
    expect(two.bufferBytes[0] + two.bufferBytes[1]).toBe(180 * MiB);
    expect(Math.max(...two.bufferBytes)).toBeLessThanOrEqual(100 * MiB);
  });
});

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.destroy());

describe('GPU arena with two WebGPU runners (CPU route: llvmpipe)', () => {
  it.each(['f16', 'f32'] as const)(
    '%s K/V: generator and verifier outputs match the CPU reference through fork, split moves and offload',
    async (kvDtype) => {
      const pageSize = 4;
      const genSource = randomModelSource(tinyConfigJson(), 21);
      const verSource = randomModelSource(tinyConfigJson({ architectures: ['Qwen2ForPrmModel'], num_hidden_layers: 3 }), 22);
      const gpb = pageSize * kvBytesPerToken(genConfig, kvBytesPerElement(kvDtype));
      const vpb = pageSize * kvBytesPerToken(verConfig, kvBytesPerElement(kvDtype));
      const ga = createGpuKvArena(gpu, { totalBytes: 40 * gpb, pageSize, kvDtype, generator: genConfig, verifier: verConfig, generatorPages: 20 });
      expect(ga.buffers).toHaveLength(1);
      const gen = await createWebGpuRunner(gpu, genSource, {
        weightFormat: 'f32',
        numPages: 0,
        pageSize,
        maxBatchTokens: 64,
        kvDtype,
        kv: ga.region('generator'),
      });
      const ver = await createWebGpuRunner(gpu, verSource, {
        weightFormat: 'f32',
        numPages: 0,
        pageSize,
        maxBatchTokens: 64,
        kvDtype,
        kv: ga.region('verifier'),
      });
      const refGen = await CpuReferenceRunner.create(genSource, { weightFormat: 'f32', numPages: 16, pageSize, kvDtype });
      const refVer = await CpuReferenceRunner.create(verSource, { weightFormat: 'f32', numPages: 16, pageSize, kvDtype });
      const { arena } = ga;
      arena.generator.attach(gen);
      arena.verifier.attach(ver);
      const rand = mulberry32(5);
      const tok = () => 3 + Math.floor(rand() * 90);

      /** Runs the sequences' pending tokens and checks each one's output against a contiguous reference prefill. */
      const run = async (pool: KvPool, runner: ModelRunner, ref: CpuReferenceRunner, batch: HeldSeq[]) => {
        const ran = await forwardHeld(pool, runner, batch, async (chunks, running) => {
          const out = await runner.forward({ chunks });
          for (let k = 0; k < running.length; k++) {
            const t = running[k].tokens;
            const want = await ref.forward({
              chunks: [{ blockTable: Array.from({ length: Math.ceil(t.length / pageSize) }, (_, i) => i), start: 0, tokens: t, outputRows: [t.length - 1] }],
            });
            if (want.logits) {
              const V = genConfig.vocabSize;
              expect(maxRelativeDiff(out.logits!.subarray(k * V, (k + 1) * V), want.logits)).toBeLessThanOrEqual(MODEL_LOGITS_TOLERANCE);
            } else {
              expect(Math.abs(out.scores![k] - want.scores![0])).toBeLessThanOrEqual(1e-5);
            }
          }
        });
        expect(ran).toHaveLength(batch.length);
        pool.checkInvariants();
      };
      const held = (pool: KvPool, tokens: number[]): HeldSeq => ({ kv: pool.open(), tokens });
      const fork = (pool: KvPool, s: HeldSeq, count: number): HeldSeq[] =>
        Array.from({ length: count }, () => ({ kv: pool.forkAt(s.kv, s.tokens.length), tokens: s.tokens.slice() }));
      const append = (seqs: HeldSeq[]) => seqs.forEach((s) => s.tokens.push(tok()));

      const prompt = Array.from({ length: 10 }, tok);
      const p = held(arena.generator, prompt);
      const v = held(arena.verifier, prompt.slice());
      await run(arena.generator, gen, refGen, [p]);
      await run(arena.verifier, ver, refVer, [v]);
      const beams = fork(arena.generator, p, 3);
      arena.generator.release(p.kv);
      for (let s = 0; s < 4; s++) {
        append(beams);
        await run(arena.generator, gen, refGen, beams);
      }
      expect(arena.generator.stats().copyOnWriteCopies).toBeGreaterThan(0);
      // The verifier scores each beam's step, sharing the prompt's pages; a junk sequence first takes
      // the verifier's top pages, so the beams' new pages sit low in its range.
      await arena.setSplit(8);
      const junk = held(arena.verifier, Array.from({ length: 24 }, tok));
      await run(arena.verifier, ver, refVer, [junk]);
      const vbeams = fork(arena.verifier, v, 3);
      arena.verifier.release(v.kv);
      vbeams.forEach((vb, i) => vb.tokens.push(...beams[i].tokens.slice(10)));
      await run(arena.verifier, ver, refVer, vbeams);
      arena.verifier.release(junk.kv);
      // Shrink the verifier past its live pages: they are copied up on the GPU (the junk's cached pages go).
      await arena.setSplit(26);
      expect(arena.verifier.capacityPages).toBe(8);
      expect(arena.verifier.stats().relocatedPages).toBeGreaterThan(0);
      expect(arena.verifier.stats().preemptions).toBe(0);
      append(vbeams);
      await run(arena.verifier, ver, refVer, vbeams);
      // Offload mode: the verifier's K/V to host memory while the generator has the whole arena, then back.
      await arena.activate('generator', ga.pageIo);
      expect(arena.verifier.isOffloaded).toBe(true);
      expect(arena.generator.capacityPages).toBe(arena.maxGeneratorPages);
      append(beams);
      await run(arena.generator, gen, refGen, beams);
      await arena.activate('verifier', ga.pageIo);
      append(vbeams);
      await run(arena.verifier, ver, refVer, vbeams);
      await arena.share(20, ga.pageIo);
      append(beams);
      await run(arena.generator, gen, refGen, beams);
      expect(arena.generator.stats().hostTransferBytes).toBeGreaterThan(0);
      expect(arena.committedBytes).toBeLessThanOrEqual(40 * gpb);
      expect(vpb).not.toBe(gpb);
      gen.dispose();
      ver.dispose();
      ga.destroy();
    },
    300_000,
  );
});
