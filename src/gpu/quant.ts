// The engine's weight formats for matrices (HF Linear layout: [rows = out_features, cols = in_features]).
//   f32:  the values' bit patterns, one per u32.
//   f16, bf16: two 16-bit values per u32 (element 2i in the low half), as a checkpoint stores them, so
//         16-bit weights stay 16-bit on the device; the kernels widen them to f32 exactly.
// The quantized formats use symmetric groups of 32 consecutive values along a row, with one scale each:
//   q8: value = int8 * scale;          4 int8 per u32 (little-endian bytes), 8 u32 per group.
//   q4: value = (nibble - 8) * scale;  8 nibbles per u32 (element j at bits 4*(j%8) of word j/8), 4 u32 per group.
// Scales are f16 values (nearest, ties to even, at most 65504: a group's largest value beyond 65504 * 127
// would saturate), kept here as f32 numbers (rows * cols/32 of them, row-major); on the GPU they are
// stored as halves, two per word, each row's padded to a whole word (packScalesF16). GGUF's Q8_0/Q4_0
// blocks carry the same f16 scale. The CPU reference dequantizes these same values, so kernel tests
// compare like with like.

import { decodeBf16, decodeF16, f16ToF32, f32ToBf16Bits, f32ToF16Bits } from './float16.ts';

export type WeightFormat = 'f32' | 'f16' | 'bf16' | 'q8' | 'q4';
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'f16', 'bf16', 'q8', 'q4'];
export const GROUP_SIZE = 32;
const MAX_F16 = 65504;

export interface PackedMatrix {
  format: WeightFormat;
  rows: number;
  cols: number;
  /** f32: the values as u32 bit patterns (Float32Array view of the same bytes); f16/bf16: two halves a word; q8/q4: packed integers. */
  data: Uint32Array;
  /** q8/q4: one scale per group, row-major [rows, cols / 32], each an f16 value. Empty for the float formats. */
  scales: Float32Array;
}

/** The code the kernels (shaders/dequant.wgsl, wasm/matmul.c) switch on. */
export const FORMAT_CODE: Readonly<Record<WeightFormat, number>> = { f32: 0, q8: 1, q4: 2, f16: 3, bf16: 4 };

/** Whether a format has group scales (q8, q4) or holds the values themselves (f32, f16, bf16). */
export function isQuantized(format: WeightFormat): format is 'q8' | 'q4' {
  return format === 'q8' || format === 'q4';
}

export function wordsPerRow(format: WeightFormat, cols: number): number {
  return { f32: cols, f16: cols / 2, bf16: cols / 2, q8: cols / 4, q4: cols / 8 }[format];
}

/** Rounds each value to a 16-bit float (nearest, ties to even) and packs two per word (f16, bf16). */
function packHalves(values: Float32Array, format: 'f16' | 'bf16'): Uint32Array {
  if (values.length % 2 !== 0) throw new RangeError(`packMatrix: ${format} needs an even number of values, got ${values.length}`);
  const convert = format === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  const halves = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    halves[i] = convert(values[i]);
    if ((halves[i] & 0x7fff) >= (format === 'f16' ? 0x7c00 : 0x7f80) && Number.isFinite(values[i]))
      throw new RangeError(`packMatrix: value ${values[i]} at index ${i} is beyond ${format}'s range`);
  }
  return new Uint32Array(halves.buffer);
}

/** The f32 values of packed halves (their bytes are a checkpoint's little-endian F16/BF16). */
function unpackHalves(data: Uint32Array, count: number, format: 'f16' | 'bf16'): Float32Array {
  const out = new Float32Array(count);
  (format === 'f16' ? decodeF16 : decodeBf16)(new Uint8Array(data.buffer, data.byteOffset, count * 2), 0, count, out);
  return out;
}

export function packMatrix(values: Float32Array, rows: number, cols: number, format: WeightFormat): PackedMatrix {
  if (values.length !== rows * cols) throw new RangeError(`packMatrix: ${values.length} values for ${rows}x${cols}`);
  if (format === 'f32') {
    return { format, rows, cols, data: new Uint32Array(values.slice().buffer), scales: new Float32Array(0) };
  }
  if (format === 'f16' || format === 'bf16') return { format, rows, cols, data: packHalves(values, format), scales: new Float32Array(0) };
  if (cols % GROUP_SIZE !== 0) throw new RangeError(`packMatrix: ${format} needs cols divisible by ${GROUP_SIZE}, got ${cols}`);
  const groups = cols / GROUP_SIZE;
  const qmax = format === 'q8' ? 127 : 7;
  const qmin = format === 'q8' ? -127 : -8;
  const scales = new Float32Array(rows * groups);
  const data = new Uint32Array(rows * wordsPerRow(format, cols));
  const perWord = format === 'q8' ? 4 : 8;
  const bits = format === 'q8' ? 8 : 4;
  const mask = (1 << bits) - 1;
  const offset = format === 'q8' ? 0 : 8;
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      const base = r * cols + g * GROUP_SIZE;
      let amax = 0;
      for (let j = 0; j < GROUP_SIZE; j++) amax = Math.max(amax, Math.abs(values[base + j]));
      const scale = f16ToF32(f32ToF16Bits(Math.min(MAX_F16, amax / qmax)));
      scales[r * groups + g] = scale;
      const inv = scale === 0 ? 0 : 1 / scale;
      for (let j = 0; j < GROUP_SIZE; j++) {
        const q = Math.min(qmax, Math.max(qmin, Math.round(values[base + j] * inv)));
        const word = ((base + j) / perWord) | 0;
        data[word] |= (((q + offset) & mask) << (bits * (j % perWord))) >>> 0;
      }
    }
  }
  return { format, rows, cols, data, scales };
}

/** Where f32 values, or a packed matrix as stored (its 16-bit values, its q8/q4 scales), hold a
 *  non-finite number; null if nowhere. */
export function nonFinite(t: Float32Array | PackedMatrix): { index: number; what: string } | null {
  if (!(t instanceof Float32Array) && (t.format === 'f16' || t.format === 'bf16')) {
    const halves = new Uint16Array(t.data.buffer, t.data.byteOffset, t.rows * t.cols);
    const exponent = t.format === 'f16' ? 0x7c00 : 0x7f80;
    const index = halves.findIndex((h) => (h & exponent) === exponent);
    return index < 0 ? null : { index, what: `${t.format} value 0x${halves[index].toString(16)}` };
  }
  const scales = !(t instanceof Float32Array) && isQuantized(t.format);
  const values = t instanceof Float32Array ? t : scales ? t.scales : new Float32Array(t.data.buffer, t.data.byteOffset, t.rows * t.cols);
  const index = values.findIndex((v) => !Number.isFinite(v));
  return index < 0 ? null : { index, what: `${scales ? 'scale' : 'value'} (${values[index]})` };
}

/** Dequantizes one packed matrix back to f32 (the exact values the kernels compute with). */
export function unpackMatrix(m: PackedMatrix): Float32Array {
  const { rows, cols } = m;
  if (m.format === 'f32') return new Float32Array(m.data.buffer, m.data.byteOffset, rows * cols).slice();
  if (m.format === 'f16' || m.format === 'bf16') return unpackHalves(m.data, rows * cols, m.format);
  const out = new Float32Array(rows * cols);
  const groups = cols / GROUP_SIZE;
  const perWord = m.format === 'q8' ? 4 : 8;
  const bits = m.format === 'q8' ? 8 : 4;
  const mask = (1 << bits) - 1;
  for (let i = 0; i < rows * cols; i++) {
    const word = m.data[(i / perWord) | 0];
    const raw = (word >>> (bits * (i % perWord))) & mask;
    const q = m.format === 'q8' ? (raw << 24) >> 24 : raw - 8;
    const r = (i / cols) | 0;
    const g = ((i % cols) / GROUP_SIZE) | 0;
    out[i] = Math.fround(q * m.scales[r * groups + g]);
  }
  return out;
}

/** Words of f16 scales per row on the GPU: two halves a word, a row padded to a whole word. */
export function scaleWordsPerRow(cols: number): number {
  return Math.ceil(cols / GROUP_SIZE / 2);
}

/** Scales [rows, groups] (f16 values) as halves, two per u32 (low half first), each row padded to a word. */
export function packScalesF16(scales: Float32Array, rows: number, cols: number): Uint32Array {
  const groups = cols / GROUP_SIZE;
  const perRow = scaleWordsPerRow(cols);
  const out = new Uint32Array(rows * perRow);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) out[r * perRow + (g >> 1)] |= f32ToF16Bits(scales[r * groups + g]) << (16 * (g & 1));
  }
  return out;
}
