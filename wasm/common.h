// Shared by the CPU route's kernels (one file per kernel family, each checked against the TypeScript
// reference in src/runtime/cpu-reference.ts by tests/wasm-kernels.test.ts). Built without libc for
// wasm32 with 128-bit SIMD (build.sh); every pointer is a byte offset into the one linear memory the
// runner manages (src/cpu/wasm-module.ts).
#pragma once
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define GROUP 32

static inline float hsum4(v128_t v) {
  // A fixed order, so a value never depends on which tile or batch computed it.
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

static inline float f32_from_bits(uint32_t u) {
  union { uint32_t u; float f; } x = { u };
  return x.f;
}

static inline uint32_t bits_from_f32(float f) {
  union { float f; uint32_t u; } x = { f };
  return x.u;
}

// exp(x) for f32 (Cephes' expf: range reduction by ln 2, degree-6 polynomial; about 1 ulp).
static inline float expf_(float x) {
  if (x > 88.72283f) return f32_from_bits(0x7f800000u);
  if (x < -103.972f) return 0.0f;
  float n = __builtin_rintf(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int e = (int)n;
  // 2^e in two factors, so that e down to -149 (subnormal results) stays exact.
  if (e < -125) {
    p *= f32_from_bits((uint32_t)(e + 100 + 127) << 23);
    return p * f32_from_bits((uint32_t)(-100 + 127) << 23);
  }
  if (e > 127) return p * 2.0f * f32_from_bits((uint32_t)(e - 1 + 127) << 23);
  return p * f32_from_bits((uint32_t)(e + 127) << 23);
}

// f32 -> f16 bits, nearest with ties to even, overflow to infinity: as WGSL's pack2x16float on
// llvmpipe and the reference's f32ToF16Bits (src/model/float16.ts).
static inline uint16_t f16_from_f32(float value) {
  uint32_t x = bits_from_f32(value);
  uint32_t sign = (x >> 16) & 0x8000u;
  int exp = (int)((x >> 23) & 0xff);
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
  int e = exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    int shift = 14 - e;
    uint32_t half = 1u << (shift - 1);
    uint32_t m = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1);
    if (rest > half || (rest == half && (m & 1))) m++;
    return (uint16_t)(sign | m);
  }
  uint32_t m = mant >> 13;
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (m & 1))) {
    m++;
    if (m == 0x400u) {
      m = 0;
      e++;
      if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    }
  }
  return (uint16_t)(sign | ((uint32_t)e << 10) | m);
}

// Four f16 (the low 64 bits of h) -> f32x4, exact for finite values: the half's exponent and fraction
// shifted into an f32 are the value times 2^-112 (subnormal halves included), so one multiply rescales.
static inline v128_t f16x4_to_f32x4(v128_t h) {
  v128_t w = wasm_u32x4_extend_low_u16x8(h);
  v128_t mag = wasm_i32x4_shl(wasm_v128_and(w, wasm_i32x4_splat(0x7fff)), 13);
  v128_t sign = wasm_i32x4_shl(wasm_v128_and(w, wasm_i32x4_splat(0x8000)), 16);
  v128_t f = wasm_f32x4_mul(mag, wasm_f32x4_splat(5.192296858534828e33f)); // 2^112
  return wasm_v128_or(f, sign);
}

static inline float maxf(float a, float b) { return a > b ? a : b; }
static inline float minf(float a, float b) { return a < b ? a : b; }
