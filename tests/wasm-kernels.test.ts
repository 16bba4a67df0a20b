// The CPU route's WebAssembly kernels (wasm/*.c), each against the TypeScript reference on identical
// inputs: activation rounding exactly, products to f32 rounding order (the integer dots are exact), the
// f16 K/V write bit for bit, the f16 read exactly, exp through SwiGLU to ~1 ulp.
import { beforeAll, describe, expect, test } from 'vitest';
import { OutOfMemoryError } from '../src/errors.ts';
import { createWasmKernels, type WasmKernels } from '../src/cpu/wasm-module.ts';
import { FORMAT_CODE, isQuantized, packMatrix, unpackMatrix, WEIGHT_FORMATS, wordsPerRow } from '../src/gpu/quant.ts';
import { mulberry32 } from '../src/model/random-model.ts';
import { f16ToF32, f32ToF16Bits } from '../src/gpu/float16.ts';
import { matmulRef, quantizeActivations, rmsNormRef, siluMulRef } from '../src/runtime/cpu-reference.ts';

let wk: WasmKernels;
beforeAll(async () => {
  wk = await createWasmKernels();
});

function random(n: number, seed: number, scale = 1): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
}

/** Copies values into fresh kernel memory. */
function put(values: Float32Array | Uint32Array | Int32Array): number {
  const at = wk.alloc(values.byteLength, 'test');
  wk.u8(at, values.byteLength).set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return at;
}

function maxRelative(got: Float32Array, want: Float32Array): number {
  let diff = 0;
  let scale = 1e-30;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

// The activation rounding and the products, in both builds: plain, and relaxed SIMD (whose q4 path
// stores int8 activations and their sums).
describe.each([false, true])('quantize_q8 (relaxed-SIMD build: %s)', (relaxed) => {
  beforeAll(async () => {
    wk = await createWasmKernels({ relaxed });
    expect(wk.relaxed).toBe(relaxed);
  });

  test.each([0, 1])('rounds as quantizeActivations does, ties to even (order %i)', (order) => {
    const K = 64;
    const x = random(3 * K, 1, 4);
    // Group 0 of row 0: max 127, so the scale is 1 and halves are ties.
    x.set([127, 2.5, -3.5, 0.5, -0.5, 1.5, 126.5, -126.5], 0);
    // Row 1 group 1 all zero: scale 0.
    x.fill(0, K + 32, 2 * K);
    const q = wk.alloc(x.length * 2, 'q');
    const s = wk.alloc((x.length / 32) * 8, 's');
    wk.k.quantize_q8(put(x), 3, K, q, s, order);
    const bytes = relaxed && order === 1;
    const qs = bytes ? new Int8Array(wk.memory.buffer, q, x.length) : new Int16Array(wk.memory.buffer, q, x.length);
    const scales = wk.f32(s, x.length / 32);
    const got = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const g = Math.floor(i / 32);
      const j = i % 32;
      const at = order ? g * 32 + (j & 1) * 16 + (j >> 1) : i;
      // Scales are group-major: [K / 32, T].
      got[i] = qs[at] * scales[(g % (K / 32)) * 3 + Math.floor(g / (K / 32))];
    }
    const want = quantizeActivations(x.slice(), 3, K);
    // (+0 and -0 alike: the kernel's integer zero has no sign)
    expect(Array.from(got, (v) => v + 0)).toEqual(Array.from(want, (v) => v + 0));
    expect(Array.from(got.subarray(0, 8), (v) => v + 0)).toEqual([127, 2, -4, 0, 0, 2, 126, -126]);
    if (bytes) {
      // After the scales, 8 times each group's sum of integers, group-major like the scales.
      const sums = wk.i32(s + (x.length / 32) * 4, x.length / 32);
      for (let g = 0; g < x.length / 32; g++) {
        const [row, group] = [Math.floor(g / (K / 32)), g % (K / 32)];
        const want8 = 8 * Array.from(qs.subarray(g * 32, (g + 1) * 32)).reduce((a, v) => a + v, 0);
        expect(sums[group * 3 + row]).toBe(want8);
      }
    }
  });
});

describe.each([false, true])('matmul (relaxed-SIMD build: %s)', (relaxed) => {
  beforeAll(async () => {
    wk = await createWasmKernels({ relaxed });
  });

  for (const format of WEIGHT_FORMATS) {
    // N = 37: 2-row tiles of 4 tokens, 4-row tiles of 1 token, rows left over, and a second row block of
    // 16; T covers 4-token tiles and remainders.
    test.each([1, 3, 4, 5, 9])(`${format}: [T=%i, 96] x [37, 96]^T against the reference`, (T) => {
      const N = 37;
      const K = 96;
      const packed = packMatrix(random(N * K, 2), N, K, format);
      const x = random(T * K, 3 + T);
      const y = wk.alloc(T * N * 4, 'y');
      const w = put(packed.data);
      let xin = x;
      if (!isQuantized(format)) wk.k[`matmul_${format}`](y, N, put(x), T, w, N, K);
      else {
        const q = wk.alloc(T * K * 2, 'q');
        const s = wk.alloc((T * K) / 4, 's');
        wk.k.quantize_q8(put(x), T, K, q, s, format === 'q4' ? 1 : 0);
        (format === 'q4' ? wk.k.matmul_q4 : wk.k.matmul_q8)(y, N, q, s, T, w, put(packed.scales), N, K);
        xin = quantizeActivations(x.slice(), T, K);
      }
      const want = matmulRef(xin, T, unpackMatrix(packed), N, K);
      expect(maxRelative(wk.f32(y, T * N), want)).toBeLessThan(2e-6);
      expect(packed.data.length).toBe(N * wordsPerRow(format, K));
    });
  }

  test('dequant_row gives the reference values of every format', () => {
    for (const format of WEIGHT_FORMATS) {
      const packed = packMatrix(random(5 * 64, 4), 5, 64, format);
      const out = wk.alloc(64 * 4, 'row');
      wk.k.dequant_row(out, put(packed.data), isQuantized(format) ? put(packed.scales) : 0, FORMAT_CODE[format], 3, 64);
      expect(Array.from(wk.f32(out, 64))).toEqual(Array.from(unpackMatrix(packed).subarray(3 * 64, 4 * 64)));
    }
  });

  test.each(['f16', 'bf16'] as const)('%s: every finite 16-bit pattern widens exactly, and the product is the f32 one of the widened values', (format) => {
    // All 65536 patterns as 32 rows of 2048 (subnormals, both zeros, the largest values); the non-finite
    // ones (exponent all ones) become zero, as a loaded matrix never holds them.
    const K = 2048;
    const exponent = format === 'f16' ? 0x7c00 : 0x7f80;
    const halves = Uint16Array.from({ length: 65536 }, (_, h) => ((h & exponent) === exponent ? 0 : h));
    const packed = { format, rows: 32, cols: K, data: new Uint32Array(halves.buffer), scales: new Float32Array(0) };
    const values = unpackMatrix(packed);
    const w = put(packed.data);
    const out = wk.alloc(K * 4, 'row');
    for (let row = 0; row < 32; row++) {
      wk.k.dequant_row(out, w, 0, FORMAT_CODE[format], row, K);
      expect(new Uint32Array(wk.f32(out, K).slice().buffer)).toEqual(new Uint32Array(values.slice(row * K, (row + 1) * K).buffer));
    }
    // Small magnitudes so that no product overflows: the rows whose exponents are below the middle.
    const x = random(5 * K, 8, 1e-3);
    const [y16, y32] = [wk.alloc(5 * 32 * 4, 'y16'), wk.alloc(5 * 32 * 4, 'y32')];
    const xp = put(x);
    const small = values.map((v) => (Math.abs(v) < 1e4 ? v : 0));
    const smallPacked = packMatrix(small, 32, K, format);
    wk.k[`matmul_${format}`](y16, 32, xp, 5, put(smallPacked.data), 32, K);
    wk.k.matmul_f32(y32, 32, xp, 5, put(small), 32, K);
    expect(new Uint32Array(wk.f32(y16, 5 * 32).slice().buffer)).toEqual(new Uint32Array(wk.f32(y32, 5 * 32).slice().buffer));
  });
});

describe('K/V in f16', () => {
  // One sequence, one page of 4 slots, 1 query head and 1 kv head of dim 8; position 0, where RoPE is the identity.
  const D = 8;
  function writeAndAttend(k: Float32Array, v: Float32Array) {
    const qkv = new Float32Array(3 * D);
    qkv.set(k, D);
    qkv.set(v, 2 * D);
    const rope = new Float32Array(D).fill(0);
    for (let i = 0; i < D / 2; i++) rope[2 * i] = 1;
    const pageElems = 4 * 2 * D;
    const kv = wk.alloc(pageElems * 2, 'kv');
    const info = put(Int32Array.from([0, 0, 0, 0]));
    const tables = put(Int32Array.from([0]));
    const qkvAt = put(qkv);
    wk.k.rope_kv(qkvAt, 1, info, tables, put(rope), kv, 0, D, 1, 1, 4, pageElems, 1);
    const out = wk.alloc(D * 4, 'out');
    wk.k.attention(out, qkvAt, 1, info, tables, kv, 0, D, 1, 1, 4, pageElems, 1, wk.alloc(64, 'scratch'));
    return { stored: new Uint16Array(wk.memory.buffer, kv, pageElems), out: wk.f32(out, D) };
  }

  test('the write rounds as f32ToF16Bits (ties to even, subnormals, overflow) and attention reads it back exactly', () => {
    const k = Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 6.1e-5, 3e-8, -65520, 70000, -1e-9, 1 / 3]);
    const v = Float32Array.from([2 ** -24, 5.96e-8, -1e-7, 0.1, -2.5, 65504, 1e-3, -7.77]);
    const { stored, out } = writeAndAttend(k, v);
    expect(Array.from(stored.subarray(0, D))).toEqual(Array.from(k, f32ToF16Bits));
    expect(Array.from(stored.subarray(4 * D, 5 * D))).toEqual(Array.from(v, f32ToF16Bits));
    // One position: the softmax weight is 1, so the output is the stored V.
    expect(Array.from(out)).toEqual(Array.from(v, (x) => f16ToF32(f32ToF16Bits(x))));
  });
});

describe('element kernels', () => {
  test('rmsnorm against rmsNormRef', () => {
    const x = random(3 * 64, 5, 3);
    const weight = random(64, 6);
    const y = wk.alloc(x.byteLength, 'y');
    wk.k.rmsnorm(y, put(x), 3, 64, put(weight), 1e-6);
    expect(maxRelative(wk.f32(y, x.length), rmsNormRef(x, 3, 64, weight, 1e-6))).toBeLessThan(1e-6);
  });

  test('swiglu (the kernels exp) against silu(g) * u within 4e-7 relative, over -90..90', () => {
    const g = Float32Array.from({ length: 2001 }, (_, i) => -90 + i * 0.09);
    const u = random(g.length, 7);
    const act = wk.alloc(g.byteLength, 'act');
    wk.k.swiglu(act, put(g), put(u), g.length);
    const got = wk.f32(act, g.length);
    let worst = 0;
    for (let i = 0; i < g.length; i++) {
      const want = siluMulRef(g[i], u[i]);
      if (Math.abs(want) > 1e-30) worst = Math.max(worst, Math.abs(got[i] - want) / Math.abs(want));
    }
    expect(worst).toBeLessThan(4e-7);
  });
});

describe('memory', () => {
  test('asking past what WebAssembly can address is an OutOfMemoryError, and the kernels stay usable', () => {
    expect(() => wk.alloc(5 * 2 ** 30, 'too much')).toThrow(OutOfMemoryError);
    const at = wk.alloc(64, 'after');
    wk.f32(at, 16).fill(1);
    expect(wk.f32(at, 16)[15]).toBe(1);
  });
});
