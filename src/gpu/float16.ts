// Half-precision conversions shared by the safetensors and GGUF readers, the fixture writers, f16 K/V and
// the f16 scales of quantized weights.
// Little-endian byte order throughout (both formats are little-endian on disk).

let f16Table: Float32Array | null = null;

/** f32 value of every f16 bit pattern (256 KiB, built once): conversion becomes a table lookup. */
function table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16BitsToF32(h);
  return (f16Table = t);
}

export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

export function f16ToF32(h: number): number {
  return table()[h & 0xffff];
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Rounds an f32 to the nearest f16 bit pattern (ties to even), with overflow to infinity. */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

/** Rounds an f32 to the nearest bf16 bit pattern (ties to even). */
export function f32ToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40; // NaN stays NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Converts `count` little-endian f16 values starting at bytes[offset] to f32 (out[outOffset..]). */
export function decodeF16(bytes: Uint8Array, offset: number, count: number, out: Float32Array, outOffset = 0): void {
  const t = table();
  for (let i = 0; i < count; i++) {
    const p = offset + 2 * i;
    out[outOffset + i] = t[bytes[p] | (bytes[p + 1] << 8)];
  }
}

/** Converts `count` little-endian bf16 values to f32: bf16 is the top half of an f32. */
export function decodeBf16(bytes: Uint8Array, offset: number, count: number, out: Float32Array, outOffset = 0): void {
  const bits = new Uint32Array(out.buffer, out.byteOffset + outOffset * 4, count);
  for (let i = 0; i < count; i++) {
    const p = offset + 2 * i;
    bits[i] = ((bytes[p] | (bytes[p + 1] << 8)) << 16) >>> 0;
  }
}

/** Copies `count` little-endian f32 values (the source may be unaligned). */
export function decodeF32(bytes: Uint8Array, offset: number, count: number, out: Float32Array, outOffset = 0): void {
  new Uint8Array(out.buffer, out.byteOffset + outOffset * 4, count * 4).set(bytes.subarray(offset, offset + count * 4));
}
