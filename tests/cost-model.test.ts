import { describe, expect, it } from 'vitest';
import {
  calibrationSample,
  replayTrace,
  forwardCost,
  modelShape,
  predictDecodeMs,
  predictForwardMs,
  weightBytes,
  kvBytesPerTokenOf,
  nearlyFreeDecodeBatch,
  hostTransferMs,
} from '../src/metrics/cost-model.ts';
import { hardwareProfile, measuredProfile, withTensorCores, HARDWARE_PROFILES } from '../src/metrics/hardware-profiles.ts';
import { OptionError } from '../src/errors.ts';

const rtx = hardwareProfile('rtx4090');
const gen15 = modelShape('qwen2.5-math-1.5b');

describe('model shapes', () => {
  it('match the published configs', () => {
    const c7 = modelShape('qwen2.5-math-7b').config;
    expect([c7.hiddenSize, c7.numLayers, c7.numHeads, c7.numKvHeads, c7.intermediateSize, c7.vocabSize]).toEqual([3584, 28, 28, 4, 18944, 152064]);
    expect(c7.headDim).toBe(128);
    expect(gen15.config.headDim).toBe(128);
    expect(modelShape('skywork-prm-1.5b').config.kind).toBe('prm-value-head');
    // Reference doc: f16 KV is 28 KiB per token for the 1.5B.
    expect(kvBytesPerTokenOf(modelShape('qwen2.5-math-1.5b', { kvBytesPerElement: 2 }))).toBe(28 * 1024);
  });

  it('price the weights by format', () => {
    // 1.5B parameters (1.54B incl. tied embeddings): about 0.87 GB at q4 (4.5 bits a weight with its f16
    // group scale, the size of a Q4_0 GGUF), about 3.1 GB at f16.
    expect(weightBytes(gen15) / 1e9).toBeGreaterThan(0.85);
    expect(weightBytes(gen15) / 1e9).toBeLessThan(0.9);
    const f16 = weightBytes(modelShape('qwen2.5-math-1.5b', { weightFormat: 'f16' })) / 1e9;
    expect(f16).toBeGreaterThan(3.0);
    expect(f16).toBeLessThan(3.2);
  });
});

describe('roofline on the RTX 4090 profile', () => {
  it('decode at batch 1 is memory-bound and near weights / bandwidth', () => {
    const c = forwardCost(rtx, gen15, { sequences: 1, newTokens: 1, contextTokens: 100 });
    expect(c.linear.bound).toBe('memory');
    expect(c.attention.bound).toBe('memory');
    const floorMs = (weightBytes(gen15) / rtx.bandwidth) * 1000;
    expect(c.ms).toBeGreaterThan(floorMs);
    expect(c.ms).toBeLessThan(floorMs * 3);
  });

  it('a large prefill is compute-bound', () => {
    const c = forwardCost(rtx, gen15, { sequences: 64, newTokens: 64 * 200, contextTokens: 64 * 500 });
    expect(c.linear.bound).toBe('compute');
    expect(c.ms).toBeGreaterThan((c.flops / rtx.peakFlops) * 1000);
  });

  it('small decode batches are nearly free, large ones are not', () => {
    const t1 = predictDecodeMs(rtx, gen15, 1, 200);
    expect(predictDecodeMs(rtx, gen15, 4, 200)).toBeLessThan(t1 * 1.2);
    expect(predictDecodeMs(rtx, gen15, 256, 200)).toBeGreaterThan(t1 * 3);
    const free = nearlyFreeDecodeBatch(rtx, gen15, 200, 0.1);
    expect(free).toBeGreaterThanOrEqual(4);
    expect(free).toBeLessThan(256);
  });

  it('is monotone in batch, new tokens and context', () => {
    let prev = 0;
    for (const b of [1, 2, 4, 8, 16, 32, 64, 128]) {
      const t = predictDecodeMs(rtx, gen15, b, 500);
      expect(t).toBeGreaterThanOrEqual(prev);
      prev = t;
    }
    expect(predictForwardMs(rtx, gen15, { sequences: 4, newTokens: 4, contextTokens: 8000 })).toBeGreaterThan(
      predictForwardMs(rtx, gen15, { sequences: 4, newTokens: 4, contextTokens: 400 }),
    );
    expect(predictForwardMs(rtx, gen15, { sequences: 0, newTokens: 0, contextTokens: 0 })).toBe(0);
  });

  it('the 7B is slower than the 1.5B, and the H200 faster than the laptop iGPU', () => {
    expect(predictDecodeMs(rtx, modelShape('qwen2.5-math-7b'), 8, 500)).toBeGreaterThan(predictDecodeMs(rtx, gen15, 8, 500) * 2);
    expect(predictDecodeMs(hardwareProfile('h200'), gen15, 8, 500)).toBeLessThan(predictDecodeMs(hardwareProfile('laptop-igpu'), gen15, 8, 500) / 10);
  });

  it('prices host transfers by the host link', () => {
    expect(hostTransferMs(rtx, 25e9)).toBeCloseTo(1000, 6);
  });
});

describe('shared K/V and the cache', () => {
  const f16 = modelShape('qwen2.5-math-1.5b', { weightFormat: 'f16', kvBytesPerElement: 2, activationBytesPerElement: 2 });
  it('pages shared by the sequences of a call are read from DRAM once while a layer of them fits in L2', () => {
    const call = { sequences: 64, newTokens: 64, contextTokens: 64 * 1000 };
    const unshared = forwardCost(rtx, f16, call);
    const shared = forwardCost(rtx, f16, { ...call, distinctContextTokens: 1000 + 63 * 100 });
    const kv = kvBytesPerTokenOf(f16);
    expect(unshared.attention.bytes - shared.attention.bytes).toBeCloseTo((64 * 1000 - (1000 + 63 * 100)) * kv, -3);
    // Past L2 (72 MiB per layer here), the repeated reads miss in proportion.
    const huge = { sequences: 64, newTokens: 64, contextTokens: 64 * 200000 };
    const big = forwardCost(rtx, f16, { ...huge, distinctContextTokens: 100000 });
    const missRate = 1 - rtx.l2Bytes! / ((100000 * kv) / f16.config.numLayers);
    expect(big.attention.bytes).toBeCloseTo((100000 + (64 * 200000 - 100000) * missRate + 128) * kv + 64 * 28 * 2 * 1536 * 4, -3);
    // Without a published L2 nothing is reused.
    const m2 = hardwareProfile('m2');
    expect(forwardCost(m2, f16, { ...call, distinctContextTokens: 1000 }).attention.bytes).toBe(forwardCost(m2, f16, call).attention.bytes);
  });

  it('the tensor-core view of a profile has the tensor rate, and f16 activations move half the bytes', () => {
    const t = withTensorCores(rtx);
    expect(t.name).toBe('rtx4090-tensor');
    expect(t.peakFlops).toBe(rtx.tensorPeakFlops);
    expect(t.peakFlops).toBeCloseTo(2 * rtx.peakFlops, -11);
    expect(withTensorCores(hardwareProfile('m2'))).toBe(hardwareProfile('m2'));
    const big = { sequences: 512, newTokens: 512, contextTokens: 512 * 100 };
    expect(forwardCost(t, f16, big).linear.ms).toBeLessThan(forwardCost(rtx, f16, big).linear.ms);
    const a32 = forwardCost(rtx, modelShape('qwen2.5-math-1.5b', { weightFormat: 'f16' }), big).linear.bytes;
    expect(forwardCost(rtx, f16, big).linear.bytes).toBeLessThan(a32);
  });
});

describe('profiles', () => {
  it('unknown names are an OptionError', () => {
    expect(() => hardwareProfile('gtx480')).toThrow(OptionError);
    expect(Object.keys(HARDWARE_PROFILES)).toEqual(expect.arrayContaining(['rtx4090', 'm2', 'laptop-igpu', 'h200']));
  });

  it('a measured profile recovers the rates of a device that follows the model', () => {
    // A synthetic CPU-like device: 20 GB/s, 50 GFLOP/s, 0.02 ms per dispatch, 0.5 ms per call.
    const truth = (bytes: number, flops: number, dispatches: number) => 0.5 + (bytes / 20e9) * 1000 + (flops / 50e9) * 1000 + dispatches * 0.02;
    const samples = [1, 2, 4, 8, 16]
      .flatMap((b) => [100, 1000].flatMap((ctx) => [10, 40].map((d) => ({ bytes: 1e7 + 5e4 * b * ctx, flops: 3e7 * b, dispatches: d, ms: 0 }))))
      .map((s) => ({ ...s, ms: truth(s.bytes, s.flops, s.dispatches) }));
    const p = measuredProfile(samples);
    expect(p.bandwidth / 20e9).toBeCloseTo(1, 3);
    expect(p.peakFlops / 50e9).toBeCloseTo(1, 3);
    expect(p.dispatchMs).toBeCloseTo(0.02, 5);
    expect(p.callMs).toBeCloseTo(0.5, 4);
    expect(() => measuredProfile(samples.slice(0, 1))).toThrow(OptionError);
  });
});

describe('trace replay and calibration samples', () => {
  it('replays a trace per model on a profile', () => {
    const shapes = { generator: gen15, verifier: modelShape('skywork-prm-1.5b') };
    const trace = [
      { model: 'generator' as const, sequences: 4, newTokens: 4, contextTokens: 400, pagesTouched: 28, ms: 50 },
      { model: 'verifier' as const, sequences: 4, newTokens: 200, contextTokens: 400, pagesTouched: 40, ms: 80 },
    ];
    const r = replayTrace(rtx, shapes, trace);
    expect(r.generatorMs).toBeCloseTo(predictForwardMs(rtx, gen15, { sequences: 4, newTokens: 4, contextTokens: 400 }), 9);
    expect(r.verifierMs).toBeGreaterThan(0);
    expect(r.totalMs).toBeCloseTo(r.generatorMs + r.verifierMs, 9);
    // Memory-bound decode is faster on the H200's HBM; the compute-bound prefill is not (WGSL has no
    // tensor cores: 67 fp32 TFLOP/s against the RTX 4090's 82.6).
    const h = replayTrace(hardwareProfile('h200'), shapes, trace);
    expect(h.generatorMs).toBeLessThan(r.generatorMs);
    expect(h.verifierMs).toBeGreaterThan(r.verifierMs);
  });

  it("calibration samples carry the call's bytes and FLOPs, whatever the profile", () => {
    const call = { sequences: 8, newTokens: 8, contextTokens: 800 };
    const s = calibrationSample(gen15, call, 12.5);
    const c = forwardCost(rtx, gen15, call);
    expect([s.bytes, s.flops, s.dispatches, s.ms]).toEqual([c.bytes, c.flops, c.dispatches, 12.5]);
  });
});
