// Matrix products y[t, n] = sum_k x[t, k] * W[n, k] for the engine's weight formats (src/gpu/quant.ts):
// f32, f16, bf16, and q8/q4 (groups of 32 along a row, one scale each: an f16 value, held here as f32,
// 4 bytes a group where the GPU keeps 2). For q8/q4 the activations are first quantized the same way
// (quantize_q8: int8 per value, one f32 scale per group of 32, nearest with ties to even), so a group's
// product is an exact integer dot (i32x4.dot_i16x8_s; for q4 with relaxed SIMD its 8-bit dot) times the
// two scales: the kernel llama.cpp runs on CPUs, and 2-3x faster than widening the weights to f32.
//
// y is written with a row stride `ldy` (>= N): a thread computing rows n0..n1 of W writes its columns of
// the full [T, ldy] output (src/cpu/threads.ts splits the rows).
//
// Invariance: every y[t, n] is computed by the same sequence of operations, whichever tile (rows or
// tokens at a time) produced it, so a token's outputs are bitwise the same alone, in any batch, in
// prefill or in decode. For q8/q4 that sequence is, over the groups g in order,
// acc = acc + (float)D_g * (ws_g * xs_g), D_g the group's exact integer dot: a tile keeps one output per
// lane (4 tokens of one row in prefill, 4 rows of one token in decode) and pays the float work once per
// 4 outputs. Tiles share loads: a group's weights unpacked once for 4 tokens, a token's activations
// loaded once for 2 rows (prefill) or 4 (decode).
#include "common.h"

// Built twice (build.sh): with relaxed SIMD, where q4 products use its 8-bit dot, and without.
#ifdef __wasm_relaxed_simd__
#define RELAXED 1
#else
#define RELAXED 0
#endif

// Activations [T, K] -> int16 [T, K] (int8 values, widened once here rather than in the inner loop) and
// scales [K/32, T] (group-major, so 4 tokens' scales of a group are one load). order 1 stores each group
// as its even elements then its odd ones: the order of a q4 group's low and high nibbles. With relaxed
// SIMD, order 1 (q4) stores int8 instead, and after the scales [K/32, T] int32: 8 * each group's sum.
EXPORT(quantize_q8)
void quantize_q8(const float* x, int T, int K, int16_t* q, float* scales, int order) {
  int G = K / GROUP;
  int bytes = RELAXED && order;
  int32_t* sums8 = (int32_t*)(scales + (long)G * T);
  for (int t = 0; t < T; t++) {
    for (int g = 0; g < G; g++) {
      const float* xg = x + (long)t * K + g * GROUP;
      int16_t* qg = q + (long)t * K + g * GROUP;
      int8_t* bg = (int8_t*)q + (long)t * K + g * GROUP;
      int sum = 0;
      float amax = 0.0f;
      for (int j = 0; j < GROUP; j++) amax = maxf(amax, __builtin_fabsf(xg[j]));
      float d = amax / 127.0f;
      float inv = d == 0.0f ? 0.0f : 1.0f / d;
      scales[(long)g * T + t] = d;
      for (int j = 0; j < GROUP; j++) {
        float v = __builtin_rintf(xg[j] * inv);
        v = minf(127.0f, maxf(-127.0f, v));
        int at = order ? (j & 1) * 16 + (j >> 1) : j;
        if (bytes) bg[at] = (int8_t)v; else qg[at] = (int16_t)v;
        sum += (int)v;
      }
      if (bytes) sums8[(long)g * T + t] = 8 * sum;
    }
  }
}

// ---- q4: 16 bytes per group; byte b holds element 2b (low nibble) and 2b + 1 (high), value nibble - 8.
static inline void unpack_q4(const uint8_t* p, v128_t w[4]) {
  v128_t v = wasm_v128_load(p);
  v128_t eight = wasm_i8x16_splat(8);
  v128_t lo = wasm_i8x16_sub(wasm_v128_and(v, wasm_i8x16_splat(0x0f)), eight);
  v128_t hi = wasm_i8x16_sub(wasm_u8x16_shr(v, 4), eight);
  w[0] = wasm_i16x8_extend_low_i8x16(lo);
  w[1] = wasm_i16x8_extend_high_i8x16(lo);
  w[2] = wasm_i16x8_extend_low_i8x16(hi);
  w[3] = wasm_i16x8_extend_high_i8x16(hi);
}

// ---- q8: 32 bytes per group, int8 in order.
static inline void unpack_q8(const uint8_t* p, v128_t w[4]) {
  v128_t a = wasm_v128_load(p);
  v128_t b = wasm_v128_load(p + 16);
  w[0] = wasm_i16x8_extend_low_i8x16(a);
  w[1] = wasm_i16x8_extend_high_i8x16(a);
  w[2] = wasm_i16x8_extend_low_i8x16(b);
  w[3] = wasm_i16x8_extend_high_i8x16(b);
}

// q4 with relaxed SIMD: the nibbles as stored (0..15, the 7-bit operand of i16x8.relaxed_dot_i8x16_i7x16_s,
// whose result is then exact and the same everywhere) against int8 activations, 16 multiply-adds an
// instruction. The lanes hold sums of a * (q + 8); the caller subtracts 8 * sum(a) from the group's total.
static inline void unpack_q4r(const uint8_t* p, v128_t w[4]) {
  v128_t v = wasm_v128_load(p);
  w[0] = wasm_v128_and(v, wasm_i8x16_splat(0x0f));
  w[1] = wasm_u8x16_shr(v, 4);
}

static inline v128_t dot_group_q4r(const v128_t w[4], const int8_t* x) {
#if RELAXED
  // Each i16 lane sums 2 products of at most 127 * 15, then 4 of them: no overflow.
  v128_t d = wasm_i16x8_add(wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_load(x), w[0]),
                            wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_load(x + 16), w[1]));
  return wasm_i32x4_extadd_pairwise_i16x8(d);
#else
  (void)w, (void)x;
  return wasm_i32x4_splat(0);
#endif
}

// The totals of one q4 group for 4 tokens (activations `xrow` bytes apart) with relaxed SIMD: pairs of
// tokens' 16-bit sums are merged before widening (each lane at most 4 * 2 * 127 * 15), which saves the
// per-token widening of dot_group_q4r.
static inline v128_t totals4_q4r(const v128_t w[4], const int8_t* x, long xrow) {
#if RELAXED
  v128_t d[4];
  for (int i = 0; i < 4; i++)
    d[i] = wasm_i16x8_add(wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_load(x + i * xrow), w[0]),
                          wasm_i16x8_relaxed_dot_i8x16_i7x16(wasm_v128_load(x + i * xrow + 16), w[1]));
  v128_t e01 = wasm_i32x4_extadd_pairwise_i16x8(wasm_i16x8_add(wasm_i64x2_shuffle(d[0], d[1], 0, 2), wasm_i64x2_shuffle(d[0], d[1], 1, 3)));
  v128_t e23 = wasm_i32x4_extadd_pairwise_i16x8(wasm_i16x8_add(wasm_i64x2_shuffle(d[2], d[3], 0, 2), wasm_i64x2_shuffle(d[2], d[3], 1, 3)));
  return wasm_i32x4_add(wasm_i32x4_shuffle(e01, e23, 0, 2, 4, 6), wasm_i32x4_shuffle(e01, e23, 1, 3, 5, 7));
#else
  (void)w, (void)x, (void)xrow;
  return wasm_i32x4_splat(0);
#endif
}

static inline v128_t dot_group(const v128_t w[4], const int16_t* x) {
  v128_t a = wasm_i32x4_dot_i16x8(w[0], wasm_v128_load(x));
  a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(w[1], wasm_v128_load(x + 8)));
  v128_t b = wasm_i32x4_dot_i16x8(w[2], wasm_v128_load(x + 16));
  b = wasm_i32x4_add(b, wasm_i32x4_dot_i16x8(w[3], wasm_v128_load(x + 24)));
  return wasm_i32x4_add(a, b);
}

// The totals of four partial-sum vectors, one per lane (exact: integers).
static inline v128_t totals4(v128_t p0, v128_t p1, v128_t p2, v128_t p3) {
  v128_t a = wasm_i32x4_add(wasm_i32x4_shuffle(p0, p1, 0, 4, 1, 5), wasm_i32x4_shuffle(p0, p1, 2, 6, 3, 7));
  v128_t b = wasm_i32x4_add(wasm_i32x4_shuffle(p2, p3, 0, 4, 1, 5), wasm_i32x4_shuffle(p2, p3, 2, 6, 3, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 1, 4, 5), wasm_i32x4_shuffle(a, b, 2, 3, 6, 7));
}

static inline int total(v128_t p) {
  return wasm_i32x4_extract_lane(p, 0) + wasm_i32x4_extract_lane(p, 1) + wasm_i32x4_extract_lane(p, 2) + wasm_i32x4_extract_lane(p, 3);
}

// Each lane: acc + (float)D * scale, scale = ws * xs of that lane's output.
static inline v128_t accumulate4(v128_t acc, v128_t dots, v128_t scale) {
  return wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(dots), scale));
}

// The three ways a group is multiplied: q8, q4, and q4 with relaxed SIMD (`rq4`, int8 activations).
static inline void unpack(const uint8_t* p, v128_t w[4], int q4, int rq4) {
  if (rq4) unpack_q4r(p, w); else if (q4) unpack_q4(p, w); else unpack_q8(p, w);
}

// Partial sums of the group whose activations start at byte `xb`.
static inline v128_t dot(const v128_t w[4], const uint8_t* xb, int rq4) {
  return rq4 ? dot_group_q4r(w, (const int8_t*)xb) : dot_group(w, (const int16_t*)xb);
}

#define ROW_BLOCK 16
// Tokens whose activations (int8, int16 or f32) fit in about 256 KiB (the L2 cache) are computed together,
// so a long prefill streams each block of weight rows once per token block, not once per 4 tokens,
// and the activations stay in cache while the rows go by.
static inline int token_block(int K, int bytesPerValue) {
  int tb = (262144 / (K * bytesPerValue)) & ~3;
  return tb < 4 ? 4 : tb;
}

// Outputs y[t..t+3, n..n+R-1] of a quantized product (R is 1 or 2, a constant where inlined).
static inline void token_tile(float* y, int ldy, const void* x, const float* xs, const int32_t* sums8, int T, int t, const uint8_t* w,
                              const float* ws, int n, int R, int K, int q4, int rq4) {
  int G = K / GROUP;
  int xBytes = rq4 ? 1 : 2;
  long xrow = (long)K * xBytes;
  int rowBytes = q4 ? K / 2 : K;
  int groupBytes = q4 ? 16 : 32;
  const uint8_t* xt = (const uint8_t*)x + t * xrow;
  v128_t acc[2] = { wasm_f32x4_splat(0), wasm_f32x4_splat(0) };
  for (int g = 0; g < G; g++) {
    const uint8_t* xg = xt + g * GROUP * xBytes;
    v128_t xsv = wasm_v128_load(xs + (long)g * T + t);
    for (int r = 0; r < R; r++) {
      v128_t wv[4];
      unpack(w + (long)(n + r) * rowBytes + g * groupBytes, wv, q4, rq4);
      v128_t d = rq4 ? wasm_i32x4_sub(totals4_q4r(wv, (const int8_t*)xg, xrow), wasm_v128_load(sums8 + (long)g * T + t))
                     : totals4(dot(wv, xg, rq4), dot(wv, xg + xrow, rq4), dot(wv, xg + 2 * xrow, rq4), dot(wv, xg + 3 * xrow, rq4));
      acc[r] = accumulate4(acc[r], d, wasm_f32x4_mul(wasm_f32x4_splat(ws[(long)(n + r) * G + g]), xsv));
    }
  }
  for (int r = 0; r < R; r++) {
    y[(long)t * ldy + n + r] = wasm_f32x4_extract_lane(acc[r], 0);
    y[(long)(t + 1) * ldy + n + r] = wasm_f32x4_extract_lane(acc[r], 1);
    y[(long)(t + 2) * ldy + n + r] = wasm_f32x4_extract_lane(acc[r], 2);
    y[(long)(t + 3) * ldy + n + r] = wasm_f32x4_extract_lane(acc[r], 3);
  }
}

// One quantized product; `q4` picks the unpacking (a constant at each call site, so it folds away).
// xs is [G, T] (quantize_q8), followed with relaxed SIMD and q4 by the activations' sums.
static inline void matmul_quant(float* y, int ldy, const void* x, const float* xs, int T, const uint8_t* w, const float* ws, int N, int K, int q4) {
  int G = K / GROUP;
  int rq4 = RELAXED && q4;
  const int32_t* sums8 = (const int32_t*)(xs + (long)G * T);
  int xBytes = rq4 ? 1 : 2;
  int rowBytes = q4 ? K / 2 : K;
  int groupBytes = q4 ? 16 : 32;
  int tb = token_block(K, xBytes);
  for (int t0 = 0; t0 < T; t0 += tb) {
    int t1 = t0 + tb < T ? t0 + tb : T;
    for (int n0 = 0; n0 < N; n0 += ROW_BLOCK) {
      int n1 = n0 + ROW_BLOCK < N ? n0 + ROW_BLOCK : N;
      int t = t0;
      // 4 tokens of R rows at a time (a lane each): each group's weights unpacked once for the 4 tokens,
      // the tokens' activations loaded once for the R rows.
      for (; t + 4 <= t1; t += 4) {
        int n = n0;
        for (; n + 2 <= n1; n += 2) token_tile(y, ldy, x, xs, sums8, T, t, w, ws, n, 2, K, q4, rq4);
        for (; n < n1; n++) token_tile(y, ldy, x, xs, sums8, T, t, w, ws, n, 1, K, q4, rq4);
      }
      // The rest one token at a time, 4 rows at a time (a lane each): the token's activations loaded once per group.
      for (; t < t1; t++) {
        const uint8_t* xt = (const uint8_t*)x + (long)t * K * xBytes;
        int n = n0;
        for (; n + 4 <= n1; n += 4) {
          const uint8_t* wr = w + (long)n * rowBytes;
          const float* wsr = ws + (long)n * G;
          v128_t acc = wasm_f32x4_splat(0);
          for (int g = 0; g < G; g++) {
            v128_t p[4];
            for (int r = 0; r < 4; r++) {
              v128_t wv[4];
              unpack(wr + (long)r * rowBytes + g * groupBytes, wv, q4, rq4);
              p[r] = dot(wv, xt + g * GROUP * xBytes, rq4);
            }
            v128_t d = totals4(p[0], p[1], p[2], p[3]);
            if (rq4) d = wasm_i32x4_sub(d, wasm_i32x4_splat(sums8[(long)g * T + t]));
            v128_t scale = wasm_f32x4_make(wsr[g], wsr[G + g], wsr[2 * G + g], wsr[3 * G + g]);
            acc = accumulate4(acc, d, wasm_f32x4_mul(scale, wasm_f32x4_splat(xs[(long)g * T + t])));
          }
          wasm_v128_store(y + (long)t * ldy + n, acc);
        }
        for (; n < n1; n++) {
          const uint8_t* wr = w + (long)n * rowBytes;
          const float* wsr = ws + (long)n * G;
          float acc = 0.0f;
          for (int g = 0; g < G; g++) {
            v128_t wv[4];
            unpack(wr + g * groupBytes, wv, q4, rq4);
            int d = total(dot(wv, xt + g * GROUP * xBytes, rq4)) - (rq4 ? sums8[(long)g * T + t] : 0);
            acc = acc + (float)d * (wsr[g] * xs[(long)g * T + t]);
          }
          y[(long)t * ldy + n] = acc;
        }
      }
    }
  }
}

EXPORT(matmul_q4)
void matmul_q4(float* y, int ldy, const void* x, const float* xs, int T, const uint8_t* w, const float* ws, int N, int K) {
  matmul_quant(y, ldy, x, xs, T, w, ws, N, K, 1);
}

EXPORT(matmul_q8)
void matmul_q8(float* y, int ldy, const int16_t* x, const float* xs, int T, const uint8_t* w, const float* ws, int N, int K) {
  matmul_quant(y, ldy, x, xs, T, w, ws, N, K, 0);
}

// ---- f32, f16, bf16 (K a multiple of 8): two accumulators (alternate 4-element chunks), summed at the
// end. 16-bit weights are widened to f32 exactly as they are loaded, so a matrix in 16 bits computes
// what the same values in f32 would.
enum { W_F32, W_F16, W_BF16 };

// Weights k .. k+3 of a row as f32.
static inline v128_t load_w(const void* w, long k, int wf) {
  if (wf == W_F32) return wasm_v128_load((const float*)w + k);
  v128_t h = wasm_u32x4_load16x4((const uint16_t*)w + k);
  if (wf == W_BF16) return wasm_i32x4_shl(h, 16);
  // f16: exponent and mantissa moved into f32 position, then scaled by 2^112 (exact for normal and
  // subnormal halves; weights are checked finite when loaded), the sign put back.
  v128_t mag = wasm_f32x4_mul(wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x7fff)), 13), wasm_i32x4_splat(0x77800000));
  return wasm_v128_or(mag, wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16));
}

static inline v128_t madd(v128_t acc, v128_t w, const float* x) {
  return wasm_f32x4_add(acc, wasm_f32x4_mul(w, wasm_v128_load(x)));
}

static inline void matmul_float(float* y, int ldy, const float* x, int T, const void* w, int N, int K, int wf) {
  int tb = token_block(K, 4);
  for (int t0 = 0; t0 < T; t0 += tb) {
    int t1 = t0 + tb < T ? t0 + tb : T;
    for (int n0 = 0; n0 < N; n0 += ROW_BLOCK) {
      int n1 = n0 + ROW_BLOCK < N ? n0 + ROW_BLOCK : N;
      int t = t0;
      for (; t + 4 <= t1; t += 4) {
        for (int n = n0; n < n1; n++) {
          long wr = (long)n * K;
          v128_t a[4], b[4];
          for (int i = 0; i < 4; i++) a[i] = b[i] = wasm_f32x4_splat(0);
          for (int k = 0; k < K; k += 8) {
            v128_t w0 = load_w(w, wr + k, wf), w1 = load_w(w, wr + k + 4, wf);
            for (int i = 0; i < 4; i++) {
              const float* xr = x + (long)(t + i) * K + k;
              a[i] = madd(a[i], w0, xr);
              b[i] = madd(b[i], w1, xr + 4);
            }
          }
          for (int i = 0; i < 4; i++) y[(long)(t + i) * ldy + n] = hsum4(wasm_f32x4_add(a[i], b[i]));
        }
      }
      for (; t < t1; t++) {
        const float* xr = x + (long)t * K;
        for (int n = n0; n < n1; n++) {
          long wr = (long)n * K;
          v128_t a = wasm_f32x4_splat(0), b = wasm_f32x4_splat(0);
          for (int k = 0; k < K; k += 8) {
            a = madd(a, load_w(w, wr + k, wf), xr + k);
            b = madd(b, load_w(w, wr + k + 4, wf), xr + k + 4);
          }
          y[(long)t * ldy + n] = hsum4(wasm_f32x4_add(a, b));
        }
      }
    }
  }
}

EXPORT(matmul_f32)
void matmul_f32(float* y, int ldy, const float* x, int T, const float* w, int N, int K) {
  matmul_float(y, ldy, x, T, w, N, K, W_F32);
}

EXPORT(matmul_f16)
void matmul_f16(float* y, int ldy, const float* x, int T, const uint16_t* w, int N, int K) {
  matmul_float(y, ldy, x, T, w, N, K, W_F16);
}

EXPORT(matmul_bf16)
void matmul_bf16(float* y, int ldy, const float* x, int T, const uint16_t* w, int N, int K) {
  matmul_float(y, ldy, x, T, w, N, K, W_BF16);
}

// y[t, n] += bias[n]
EXPORT(add_bias)
void add_bias(float* y, int T, int N, const float* bias) {
  for (int t = 0; t < T; t++)
    for (int n = 0; n < N; n++) y[(long)t * N + n] += bias[n];
}

// x[i] += y[i] (the residual adds)
EXPORT(add_into)
void add_into(float* x, const float* y, int n) {
  for (int i = 0; i < n; i++) x[i] += y[i];
}

// Row `row` of a matrix in the engine's formats (FORMAT_CODE in src/gpu/quant.ts), as f32 (the
// embedding lookup).
EXPORT(dequant_row)
void dequant_row(float* out, const uint8_t* w, const float* ws, int format, int row, int K) {
  int G = K / GROUP;
  if (format == 0 || format == 3 || format == 4) {
    int wf = format == 0 ? W_F32 : format == 3 ? W_F16 : W_BF16;
    for (int k = 0; k < K; k += 4) wasm_v128_store(out + k, load_w(w, (long)row * K + k, wf));
    return;
  }
  for (int g = 0; g < G; g++) {
    float s = ws[(long)row * G + g];
    for (int j = 0; j < GROUP; j++) {
      int q;
      if (format == 1) q = ((const int8_t*)w)[(long)row * K + g * GROUP + j];
      else {
        uint8_t b = w[(long)row * (K / 2) + g * 16 + j / 2];
        q = (int)((j & 1) ? b >> 4 : b & 15) - 8;
      }
      out[g * GROUP + j] = (float)q * s;
    }
  }
}
