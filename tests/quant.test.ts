// The engine's quantized weight formats (src/gpu/quant.ts): group scales are f16 values, stored on the
// GPU as halves two per word with each row padded to a whole word.
import { expect, test } from 'vitest';
import { f16ToF32, f32ToF16Bits } from '../src/gpu/float16.ts';
import { packMatrix, packScalesF16, scaleWordsPerRow, unpackMatrix } from '../src/gpu/quant.ts';
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
