// GGML block formats found in common GGUF files (the mix in Q4_K_M: Q4_K and Q6_K, with F32 norms and
// Q5_0/Q8_0 where rows are not a multiple of 256; Q8_0/Q4_0/Q4_1/Q5_x in older files; Q5_K in Q5_K_M):
// byte layouts, dequantization to f32, and simple quantizers for fixtures (the types the fixture tool
// writes). Layouts follow ggml-quants.c (block_q8_0, block_q4_K, ...); all little-endian.
import type { PackedMatrix, WeightFormat } from '../gpu/quant.ts';
import { decodeBf16, decodeF16, decodeF32, f16ToF32, f32ToF16Bits } from '../gpu/float16.ts';

export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
}

/** Elements per block and bytes per block of each supported type. */
export const GGML_BLOCKS: Partial<Record<GgmlType, { elements: number; bytes: number }>> = {
  [GgmlType.F32]: { elements: 1, bytes: 4 },
  [GgmlType.F16]: { elements: 1, bytes: 2 },
  [GgmlType.BF16]: { elements: 1, bytes: 2 },
  [GgmlType.Q8_0]: { elements: 32, bytes: 34 },
  [GgmlType.Q4_0]: { elements: 32, bytes: 18 },
  [GgmlType.Q4_1]: { elements: 32, bytes: 20 },
  [GgmlType.Q5_0]: { elements: 32, bytes: 22 },
  [GgmlType.Q5_1]: { elements: 32, bytes: 24 },
  [GgmlType.Q4_K]: { elements: 256, bytes: 144 },
  [GgmlType.Q5_K]: { elements: 256, bytes: 176 },
  [GgmlType.Q6_K]: { elements: 256, bytes: 210 },
};

export function ggmlTypeName(t: number): string {
  return GgmlType[t] ?? `type ${t}`;
}

/** Dequantizes `count` elements (a multiple of the block size) from `bytes` into a new Float32Array. */
export function dequantize(type: GgmlType, bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  dequantizeInto(type, bytes, out);
  return out;
}

/** Dequantizes whole blocks from `bytes` into `out` (out.length elements). */
export function dequantizeInto(type: GgmlType, bytes: Uint8Array, out: Float32Array): void {
  const count = out.length;
  switch (type) {
    case GgmlType.F32:
      decodeF32(bytes, 0, count, out);
      break;
    case GgmlType.F16:
      decodeF16(bytes, 0, count, out);
      break;
    case GgmlType.BF16:
      decodeBf16(bytes, 0, count, out);
      break;
    case GgmlType.Q8_0:
      dequantQ8_0(bytes, out);
      break;
    case GgmlType.Q4_0:
      dequantQ4_0(bytes, out);
      break;
    case GgmlType.Q4_1:
      dequantQ4_1(bytes, out);
      break;
    case GgmlType.Q5_0:
      dequantQ5(bytes, out, false);
      break;
    case GgmlType.Q5_1:
      dequantQ5(bytes, out, true);
      break;
    case GgmlType.Q4_K:
      dequantQ4_K(bytes, out);
      break;
    case GgmlType.Q5_K:
      dequantQ5_K(bytes, out);
      break;
    case GgmlType.Q6_K:
      dequantQ6_K(bytes, out);
      break;
    default:
      throw new RangeError(`dequantize: unsupported type ${ggmlTypeName(type)}`);
  }
}

const half = (b: Uint8Array, p: number) => f16ToF32(b[p] | (b[p + 1] << 8));

/** block_q8_0: f16 d, int8 qs[32]; x = d * q. */
function dequantQ8_0(b: Uint8Array, out: Float32Array): void {
  for (let blk = 0, p = 0; blk < out.length / 32; blk++, p += 34) {
    const d = half(b, p);
    for (let j = 0; j < 32; j++) out[blk * 32 + j] = d * ((b[p + 2 + j] << 24) >> 24);
  }
}

/** block_q4_0: f16 d, u8 qs[16]; element j is the low nibble of qs[j], element j+16 the high one; x = d * (q - 8). */
function dequantQ4_0(b: Uint8Array, out: Float32Array): void {
  for (let blk = 0, p = 0; blk < out.length / 32; blk++, p += 18) {
    const d = half(b, p);
    const o = blk * 32;
    for (let j = 0; j < 16; j++) {
      const q = b[p + 2 + j];
      out[o + j] = d * ((q & 0xf) - 8);
      out[o + j + 16] = d * ((q >> 4) - 8);
    }
  }
}

/** The engine's weight format a GGUF type is exactly, if any. */
export function exactFormat(type: GgmlType): WeightFormat | undefined {
  return ({ [GgmlType.F32]: 'f32', [GgmlType.F16]: 'f16', [GgmlType.BF16]: 'bf16', [GgmlType.Q8_0]: 'q8', [GgmlType.Q4_0]: 'q4' } as const)[type as number];
}

/** Whether packedFromGguf takes a matrix of this type with rows of `cols` values (F32 is read as values). */
export function packsExactly(type: GgmlType, cols: number): boolean {
  const f = exactFormat(type);
  return f !== undefined && f !== 'f32' && cols % 32 === 0;
}

/**
 * An F16, BF16, Q8_0 or Q4_0 matrix ([rows, cols], cols a multiple of 32) in the engine's format
 * (src/gpu/quant.ts), exactly: halves copied as they are; each block's f16 d becomes the group's f32
 * scale, Q8_0's int8 copied as they are, Q4_0's nibbles moved from (j, j + 16) per byte to (2b, 2b + 1).
 * Null for other types.
 */
export function packedFromGguf(type: GgmlType, bytes: Uint8Array, rows: number, cols: number): PackedMatrix | null {
  if (!packsExactly(type, cols)) return null;
  if (type === GgmlType.F16 || type === GgmlType.BF16) {
    const data = new Uint32Array((rows * cols) / 2);
    new Uint8Array(data.buffer).set(bytes.subarray(0, rows * cols * 2));
    return { format: type === GgmlType.F16 ? 'f16' : 'bf16', rows, cols, data, scales: new Float32Array(0) };
  }
  const blocks = (rows * cols) / 32;
  const scales = new Float32Array(blocks);
  if (type === GgmlType.Q8_0) {
    const data = new Uint8Array(rows * cols);
    for (let blk = 0, p = 0; blk < blocks; blk++, p += 34) {
      scales[blk] = half(bytes, p);
      data.set(bytes.subarray(p + 2, p + 34), blk * 32);
    }
    return { format: 'q8', rows, cols, data: new Uint32Array(data.buffer), scales };
  }
  const data = new Uint8Array((rows * cols) / 2);
  for (let blk = 0, p = 0; blk < blocks; blk++, p += 18) {
    scales[blk] = half(bytes, p);
    const o = blk * 16;
    const q = p + 2;
    for (let b = 0; b < 8; b++) {
      data[o + b] = (bytes[q + 2 * b] & 0xf) | ((bytes[q + 2 * b + 1] & 0xf) << 4);
      data[o + 8 + b] = (bytes[q + 2 * b] >> 4) | (bytes[q + 2 * b + 1] & 0xf0);
    }
  }
  return { format: 'q4', rows, cols, data: new Uint32Array(data.buffer), scales };
}

/** block_q4_1: f16 d, f16 m, u8 qs[16]; nibbles as in Q4_0; x = d * q + m. */
function dequantQ4_1(b: Uint8Array, out: Float32Array): void {
  for (let blk = 0, p = 0; blk < out.length / 32; blk++, p += 20) {
    const d = half(b, p);
    const m = half(b, p + 2);
    const o = blk * 32;
    for (let j = 0; j < 16; j++) {
      const q = b[p + 4 + j];
      out[o + j] = d * (q & 0xf) + m;
      out[o + j + 16] = d * (q >> 4) + m;
    }
  }
}

/**
 * block_q5_0: f16 d, u32 qh, u8 qs[16]; block_q5_1: f16 d, f16 m, u32 qh, u8 qs[16]. Bit j of qh is the
 * fifth bit of element j, bit j+16 that of element j+16. Q5_0: x = d * (q - 16); Q5_1: x = d * q + m.
 */
function dequantQ5(b: Uint8Array, out: Float32Array, withMin: boolean): void {
  const size = withMin ? 24 : 22;
  const hOff = withMin ? 4 : 2;
  for (let blk = 0, p = 0; blk < out.length / 32; blk++, p += size) {
    const d = half(b, p);
    const m = withMin ? half(b, p + 2) : 0;
    const qh = (b[p + hOff] | (b[p + hOff + 1] << 8) | (b[p + hOff + 2] << 16) | (b[p + hOff + 3] << 24)) >>> 0;
    const qs = p + hOff + 4;
    const o = blk * 32;
    for (let j = 0; j < 16; j++) {
      const x0 = (b[qs + j] & 0xf) | (((qh >>> j) << 4) & 0x10);
      const x1 = (b[qs + j] >> 4) | ((qh >>> (j + 12)) & 0x10);
      out[o + j] = withMin ? d * x0 + m : d * (x0 - 16);
      out[o + j + 16] = withMin ? d * x1 + m : d * (x1 - 16);
    }
  }
}

/** The 6-bit scale and min of sub-block j (0..7) packed in the 12 scale bytes of a Q4_K block. */
function scaleMinK4(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j] & 63, b[s + j + 4] & 63];
  return [(b[s + j + 4] & 0xf) | ((b[s + j - 4] >> 6) << 4), (b[s + j + 4] >> 4) | ((b[s + j] >> 6) << 4)];
}

/** block_q4_K: f16 d, f16 dmin, u8 scales[12], u8 qs[128]; 8 sub-blocks of 32: x = d*sc*q - dmin*m. */
function dequantQ4_K(b: Uint8Array, out: Float32Array): void {
  for (let blk = 0, p = 0; blk < out.length / 256; blk++, p += 144) {
    const d = half(b, p);
    const dmin = half(b, p + 2);
    let o = blk * 256;
    for (let pair = 0; pair < 4; pair++) {
      const [sc1, m1] = scaleMinK4(b, p + 4, 2 * pair);
      const [sc2, m2] = scaleMinK4(b, p + 4, 2 * pair + 1);
      const d1 = d * sc1,
        min1 = dmin * m1,
        d2 = d * sc2,
        min2 = dmin * m2;
      const q = p + 16 + 32 * pair;
      for (let l = 0; l < 32; l++) out[o + l] = d1 * (b[q + l] & 0xf) - min1;
      for (let l = 0; l < 32; l++) out[o + 32 + l] = d2 * (b[q + l] >> 4) - min2;
      o += 64;
    }
  }
}

/** block_q5_K: f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]; Q4_K plus a fifth bit per element from qh. */
function dequantQ5_K(b: Uint8Array, out: Float32Array): void {
  for (let blk = 0, p = 0; blk < out.length / 256; blk++, p += 176) {
    const d = half(b, p);
    const dmin = half(b, p + 2);
    const qh = p + 16;
    let o = blk * 256;
    for (let pair = 0; pair < 4; pair++) {
      const [sc1, m1] = scaleMinK4(b, p + 4, 2 * pair);
      const [sc2, m2] = scaleMinK4(b, p + 4, 2 * pair + 1);
      const d1 = d * sc1,
        min1 = dmin * m1,
        d2 = d * sc2,
        min2 = dmin * m2;
      const ql = p + 48 + 32 * pair;
      const u1 = 1 << (2 * pair),
        u2 = 2 << (2 * pair);
      for (let l = 0; l < 32; l++) out[o + l] = d1 * ((b[ql + l] & 0xf) + (b[qh + l] & u1 ? 16 : 0)) - min1;
      for (let l = 0; l < 32; l++) out[o + 32 + l] = d2 * ((b[ql + l] >> 4) + (b[qh + l] & u2 ? 16 : 0)) - min2;
      o += 64;
    }
  }
}

/** block_q6_K: u8 ql[128], u8 qh[64], int8 scales[16], f16 d; 16 sub-blocks of 16: x = d*sc*(q - 32). */
function dequantQ6_K(b: Uint8Array, out: Float32Array): void {
  for (let blk = 0, p = 0; blk < out.length / 256; blk++, p += 210) {
    const d = half(b, p + 208);
    for (let n = 0; n < 2; n++) {
      const ql = p + 64 * n;
      const qh = p + 128 + 32 * n;
      const sc = p + 192 + 8 * n;
      const o = blk * 256 + 128 * n;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = b[qh + l];
        const q1 = ((b[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[o + l] = d * ((b[sc + is] << 24) >> 24) * q1;
        out[o + l + 32] = d * ((b[sc + is + 2] << 24) >> 24) * q2;
        out[o + l + 64] = d * ((b[sc + is + 4] << 24) >> 24) * q3;
        out[o + l + 96] = d * ((b[sc + is + 6] << 24) >> 24) * q4;
      }
    }
  }
}

// ---- quantizers (fixtures and tests; simple round-to-nearest, not llama.cpp's search) ----

function putHalf(b: Uint8Array, p: number, v: number): number {
  const h = f32ToF16Bits(v);
  b[p] = h & 0xff;
  b[p + 1] = h >> 8;
  return f16ToF32(h);
}

const QUANTIZABLE = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K]);

export function quantize(type: GgmlType, values: Float32Array): Uint8Array {
  const blk = GGML_BLOCKS[type];
  if (!blk || !QUANTIZABLE.has(type)) throw new RangeError(`quantize: no quantizer for ${ggmlTypeName(type)}`);
  if (values.length % blk.elements !== 0) throw new RangeError(`quantize: ${ggmlTypeName(type)} needs a multiple of ${blk.elements} values`);
  const out = new Uint8Array((values.length / blk.elements) * blk.bytes);
  const blocks = values.length / blk.elements;
  if (type === GgmlType.F32) out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  else if (type === GgmlType.F16) for (let i = 0; i < values.length; i++) putHalf(out, 2 * i, values[i]);
  else if (type === GgmlType.BF16) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) {
      const h = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16) & 0xffff;
      out[2 * i] = h & 0xff;
      out[2 * i + 1] = h >> 8;
    }
  } else
    for (let i = 0; i < blocks; i++) {
      const x = values.subarray(i * blk.elements, (i + 1) * blk.elements);
      const p = i * blk.bytes;
      if (type === GgmlType.Q8_0) quantQ8_0(x, out, p);
      else if (type === GgmlType.Q4_0) quantQ4_0(x, out, p);
      else if (type === GgmlType.Q4_K) quantQ4_K(x, out, p);
      else quantQ6_K(x, out, p);
    }
  return out;
}

function quantQ8_0(x: Float32Array, b: Uint8Array, p: number): void {
  let amax = 0;
  for (const v of x) amax = Math.max(amax, Math.abs(v));
  const d = putHalf(b, p, amax / 127);
  const id = d ? 1 / d : 0;
  for (let j = 0; j < 32; j++) b[p + 2 + j] = Math.max(-127, Math.min(127, Math.round(x[j] * id))) & 0xff;
}

/** ggml's quantize_row_q4_0: d = (the value of largest magnitude) / -8, so that value maps to q = 0 exactly. */
function quantQ4_0(x: Float32Array, b: Uint8Array, p: number): void {
  let max = 0;
  for (const v of x) if (Math.abs(v) > Math.abs(max)) max = v;
  const d = putHalf(b, p, max / -8);
  const id = d ? 1 / d : 0;
  const q = (v: number) => Math.min(15, Math.max(0, Math.floor(v * id + 8.5)));
  for (let j = 0; j < 16; j++) b[p + 2 + j] = q(x[j]) | (q(x[j + 16]) << 4);
}

function quantQ4_K(x: Float32Array, b: Uint8Array, p: number): void {
  const scales = new Float64Array(8);
  const mins = new Float64Array(8);
  for (let j = 0; j < 8; j++) {
    let lo = 0,
      hi = 0;
    for (let l = 0; l < 32; l++) {
      lo = Math.min(lo, x[32 * j + l]);
      hi = Math.max(hi, x[32 * j + l]);
    }
    scales[j] = (hi - lo) / 15;
    mins[j] = -lo;
  }
  const d = putHalf(b, p, Math.max(...scales) / 63);
  const dmin = putHalf(b, p + 2, Math.max(...mins) / 63);
  const sc = scales.map((s) => (d ? Math.min(63, Math.ceil(s / d - 1e-6)) : 0));
  const mn = mins.map((m) => (dmin ? Math.min(63, Math.round(m / dmin)) : 0));
  for (let j = 0; j < 4; j++) {
    b[p + 4 + j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
    b[p + 8 + j] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6);
    b[p + 12 + j] = (sc[j + 4] & 0xf) | ((mn[j + 4] & 0xf) << 4);
  }
  for (let j = 0; j < 8; j++) {
    const d1 = d * sc[j],
      m1 = dmin * mn[j];
    const q0 = p + 16 + 32 * (j >> 1);
    for (let l = 0; l < 32; l++) {
      const q = d1 ? Math.min(15, Math.max(0, Math.round((x[32 * j + l] + m1) / d1))) : 0;
      b[q0 + l] |= j & 1 ? q << 4 : q;
    }
  }
}

function quantQ6_K(x: Float32Array, b: Uint8Array, p: number): void {
  const scales = new Float64Array(16);
  for (let j = 0; j < 16; j++) {
    let amax = 0;
    for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[16 * j + l]));
    scales[j] = amax / 31;
  }
  const d = putHalf(b, p + 208, Math.max(...scales) / 127);
  const sc = scales.map((s) => (d ? Math.min(127, Math.round(s / d)) : 0));
  for (let j = 0; j < 16; j++) b[p + 192 + j] = sc[j] & 0xff;
  const q = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    const d1 = d * sc[i >> 4];
    q[i] = (d1 ? Math.min(31, Math.max(-32, Math.round(x[i] / d1))) : 0) + 32;
  }
  for (let n = 0; n < 2; n++) {
    for (let l = 0; l < 32; l++) {
      const [q1, q2, q3, q4] = [q[128 * n + l], q[128 * n + l + 32], q[128 * n + l + 64], q[128 * n + l + 96]];
      b[p + 64 * n + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
      b[p + 64 * n + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
      b[p + 128 + 32 * n + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
  }
}
