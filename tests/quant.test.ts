// The engine's weight formats (src/gpu/quant.ts): 16-bit floats two per word; quantized group scales
// are f16 values, stored on the GPU as halves two per word with each row padded to a whole word.
import { expect, test } from 'vitest';
import { f16ToF32, f32ToBf16Bits, f32ToF16Bits } from '../src/gpu/float16.ts';
import { nonFinite, packMatrix, packScalesF16, scaleWordsPerRow, unpackMatrix, wordsPerRow } from '../src/gpu/quant.ts';
import { mulberry32 } from '../src/model/random-model.ts';

test.each(['q8', 'q4'] as const)('%s: every group scale is an f16 value, and the values stay within half a step of the input', (format) => {
  const rand = mulberry32(9);
  const values = Float32Array.from({ length: 5 * 96 }, () => (rand() * 2 - 1) * 3);
  const m = packMatrix(values, 5, 96, format);
  for (const s of m.scales) expect(f16ToF32(f32ToF16Bits(s))).toBe(s);
  const back = unpackMatrix(m);
  const qmax = format === 'q8' ? 127 : 7;
  for (let i = 0; i < values.length; i++) {
    const s = m.scales[Math.floor(i / 32)];
    // Rounding the scale to f16 moves the grid by at most 2^-11 of it, times at most qmax steps.
    expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(s * (0.5 + qmax * 2 ** -11) + 1e-7);
  }
});

test('scales pack two halves a word, low half first, each row padded to a whole word', () => {
  // 3 groups a row: 2 words, the second half of the second word zero.
  expect(scaleWordsPerRow(96)).toBe(2);
  const scales = Float32Array.from([1, 2, 0.5, -3, 0.25, 65504]);
  const words = packScalesF16(scales, 2, 96);
  expect(Array.from(words)).toEqual([0x40003c00, 0x3800, 0x3400c200, 0x7bff]);
});

test.each(['f16', 'bf16'] as const)('%s: two values a word (element 2i low), each the nearest 16-bit value (ties to even)', (format) => {
  const convert = format === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  const rand = mulberry32(4);
  const values = Float32Array.from({ length: 3 * 64 }, () => (rand() * 2 - 1) * 5);
  values[1] = 1 + 2 ** -11; // f16: a tie between 1 and 1 + 2^-10, to the even 1
  values[2] = 6e-8; // f16: subnormal
  const m = packMatrix(values, 3, 64, format);
  expect(m.data.length).toBe(3 * wordsPerRow(format, 64));
  expect(m.data[0]).toBe((convert(values[0]) | (convert(values[1]) << 16)) >>> 0);
  const back = unpackMatrix(m);
  for (let i = 0; i < values.length; i++) {
    const bits = convert(values[i]);
    expect(back[i]).toBe(format === 'f16' ? f16ToF32(bits) : new Float32Array(new Uint32Array([bits << 16]).buffer)[0]);
  }
  if (format === 'f16') expect(back[1]).toBe(1);
});

test('f16 refuses a value beyond its range rather than storing infinity', () => {
  expect(() => packMatrix(Float32Array.from([1, 70000]), 1, 2, 'f16')).toThrow(/value 70000 at index 1 is beyond f16's range/);
  expect(unpackMatrix(packMatrix(Float32Array.from([1, 70000]), 1, 2, 'bf16'))[1]).toBe(70144);
});

test('nonFinite finds a non-finite number as stored: f32 values, 16-bit values, q8/q4 scales', () => {
  expect(nonFinite(Float32Array.from([0, 1, Number.NaN]))).toEqual({ index: 2, what: 'value (NaN)' });
  const halves = (h: number[]) => ({
    format: 'f16' as const,
    rows: 1,
    cols: h.length,
    data: new Uint32Array(new Uint16Array(h).buffer),
    scales: new Float32Array(0),
  });
  expect(nonFinite(halves([0x3c00, 0x7bff]))).toBeNull();
  expect(nonFinite(halves([0x3c00, 0xfc00]))).toEqual({ index: 1, what: 'f16 value 0xfc00' });
  expect(nonFinite({ ...halves([0x3c00, 0x7f80]), format: 'bf16' })).toEqual({ index: 1, what: 'bf16 value 0x7f80' });
  const q4 = packMatrix(new Float32Array(64).fill(1), 1, 64, 'q4');
  expect(nonFinite(q4)).toBeNull();
  q4.scales[1] = Number.POSITIVE_INFINITY;
  expect(nonFinite(q4)).toEqual({ index: 1, what: 'scale (Infinity)' });
});
