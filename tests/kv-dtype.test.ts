// K/V storage types: the checks and sizes of src/gpu/kv-dtype.ts, and the CPU reference's rounding of
// K/V to f16 on write (what the GPU's pack2x16float stores, so kernel checks stay tight).
import { describe, expect, it } from 'vitest';
import { FormatError, OptionError } from '../src/errors.ts';
import { checkKvDtype, checkKvHeadDim, DEFAULT_KV_DTYPE, kvBytesPerElement } from '../src/gpu/kv-dtype.ts';
import { f16ToF32, f32ToF16Bits } from '../src/gpu/float16.ts';
import { randomModelSource, tinyConfigJson } from '../src/model/random-model.ts';
import { CpuReferenceRunner, roundToF16 } from '../src/runtime/cpu-reference.ts';

describe('K/V storage types', () => {
  it('f16 by default, 2 bytes per element against f32s 4; anything else is an OptionError', () => {
    expect(DEFAULT_KV_DTYPE).toBe('f16');
    expect(kvBytesPerElement('f16')).toBe(2);
    expect(kvBytesPerElement('f32')).toBe(4);
    expect(checkKvDtype('f32')).toBe('f32');
    expect(() => checkKvDtype('bf16')).toThrow(OptionError);
  });

  it('f16 packs (d, d + 1) pairs of a head: an odd head dimension is a FormatError', () => {
    expect(() => checkKvHeadDim(128, 'f16')).not.toThrow();
    expect(() => checkKvHeadDim(7, 'f16')).toThrow(FormatError);
    expect(() => checkKvHeadDim(7, 'f32')).not.toThrow();
  });

  it('roundToF16 rounds to the nearest half, ties to even', () => {
    const x = new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 1e-6, -0.1]);
    expect(Array.from(roundToF16(x.slice()))).toEqual(Array.from(x, (v) => f16ToF32(f32ToF16Bits(v))));
    expect(roundToF16(new Float32Array([1 + 2 ** -11]))[0]).toBe(1); // tie: down to the even mantissa
    expect(roundToF16(new Float32Array([1 + 3 * 2 ** -11]))[0]).toBe(1 + 2 ** -9); // tie: up to the even mantissa
  });

  it('the CPU reference keeps only f16 values in its cache with f16 K/V, and f32 values with f32', async () => {
    const source = randomModelSource(tinyConfigJson(), 3);
    const tokens = [1, 5, 9, 13, 17, 21];
    const cached = async (kvDtype: 'f16' | 'f32') => {
      const r = await CpuReferenceRunner.create(source, { weightFormat: 'f32', numPages: 1, pageSize: 16, kvDtype });
      const out = await r.forward({ chunks: [{ blockTable: [0], start: 0, tokens, outputRows: [tokens.length - 1] }] });
      return { kv: r.kv.slice(), logits: out.logits! };
    };
    const [half, full] = [await cached('f16'), await cached('f32')];
    const written = Array.from(full.kv.keys()).filter((i) => full.kv[i] !== 0);
    expect(written.length).toBeGreaterThan(0);
    for (const i of written) expect(half.kv[i]).toBe(f16ToF32(f32ToF16Bits(half.kv[i])));
    expect(written.some((i) => full.kv[i] !== f16ToF32(f32ToF16Bits(full.kv[i])))).toBe(true);
    // Close, not equal: the rounding reaches the logits.
    expect(half.logits).not.toEqual(full.logits);
    let worst = 0;
    for (let i = 0; i < full.logits.length; i++) worst = Math.max(worst, Math.abs(half.logits[i] - full.logits[i]));
    expect(worst).toBeLessThan(0.05);
  });
});
