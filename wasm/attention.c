// RoPE with the K/V cache write, and paged causal attention: the CPU route's counterparts of
// shaders/rope-kv.wgsl and shaders/attention.wgsl, on the same KV page layout (src/gpu/kv-dtype.ts):
//   element (page, layer, kv, slot, kvHead, d) at page * pageElems
//     + ((layer * 2 + kv) * pageSize + slot) * HKV * D + kvHead * D + d
// stored as f32, or as f16 (nearest, ties to even). Row info per token row: token, position, offset of
// its sequence's block table in `tables`, unused (src/runtime/forward-batch.ts).
#include "common.h"

typedef struct {
  int D, HQ, HKV, pageSize, pageElems, f16;
} KvShape;

static inline long kv_index(const KvShape* s, const int32_t* tables, const int32_t* info, int layer, int kv, int pos) {
  int page = tables[info[2] + pos / s->pageSize];
  return (long)page * s->pageElems + ((long)(layer * 2 + kv) * s->pageSize + pos % s->pageSize) * s->HKV * s->D;
}

static inline void kv_store(void* kv, int f16, long at, float value) {
  if (f16) ((uint16_t*)kv)[at] = f16_from_f32(value);
  else ((float*)kv)[at] = value;
}

// qkv rows are [q (HQ*D) | k (HKV*D) | v (HKV*D)]: q and k are rotated in place (rotate_half, with the
// runner's cos/sin table [position][i] -> (cos, sin)), then k and v are written to the row's slot.
EXPORT(rope_kv)
void rope_kv(float* qkv, int T, const int32_t* info, const int32_t* tables, const float* table, void* kv, int layer,
             int D, int HQ, int HKV, int pageSize, int pageElems, int f16) {
  KvShape s = { D, HQ, HKV, pageSize, pageElems, f16 };
  int half = D / 2;
  int row = (HQ + 2 * HKV) * D;
  for (int t = 0; t < T; t++) {
    const int32_t* in = info + t * 4;
    int pos = in[1];
    const float* cs = table + (long)pos * half * 2;
    float* r = qkv + (long)t * row;
    for (int h = 0; h < HQ + HKV; h++) {
      float* v = r + h * D;
      for (int i = 0; i < half; i++) {
        float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cs[2 * i] - x2 * cs[2 * i + 1];
        v[i + half] = x2 * cs[2 * i] + x1 * cs[2 * i + 1];
      }
    }
    long k = kv_index(&s, tables, in, layer, 0, pos);
    long vv = kv_index(&s, tables, in, layer, 1, pos);
    const float* kr = r + HQ * D;
    const float* vr = kr + HKV * D;
    for (int i = 0; i < HKV * D; i++) {
      kv_store(kv, f16, k + i, kr[i]);
      kv_store(kv, f16, vv + i, vr[i]);
    }
  }
}

// D elements of one cached head vector as f32.
static inline void kv_load(float* out, const void* kv, int f16, long at, int D) {
  if (!f16) {
    const float* p = (const float*)kv + at;
    for (int d = 0; d < D; d += 4) wasm_v128_store(out + d, wasm_v128_load(p + d));
    return;
  }
  const uint16_t* p = (const uint16_t*)kv + at;
  for (int d = 0; d < D; d += 4) wasm_v128_store(out + d, f16x4_to_f32x4(wasm_v128_load64_zero(p + d)));
}

static inline float dot(const float* a, const float* b, int D) {
  v128_t acc = wasm_f32x4_splat(0);
  for (int d = 0; d < D; d += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + d), wasm_v128_load(b + d)));
  return hsum4(acc);
}

// out[t, h*D..] = softmax(q k^T / sqrt(D)) v over positions 0..pos of the row's sequence (D a multiple
// of 4). Each kv head's K/V vectors are read once for the group of query heads that share it.
// scratch: (HQ / HKV) * (maxPos + 1) + 2 * D floats.
EXPORT(attention)
void attention(float* out, const float* qkv, int T, const int32_t* info, const int32_t* tables, const void* kv, int layer,
               int D, int HQ, int HKV, int pageSize, int pageElems, int f16, float* scratch) {
  KvShape s = { D, HQ, HKV, pageSize, pageElems, f16 };
  int group = HQ / HKV;
  int row = (HQ + 2 * HKV) * D;
  float scale = 1.0f / __builtin_sqrtf((float)D);
  for (int t = 0; t < T; t++) {
    const int32_t* in = info + t * 4;
    int ctx = in[1] + 1;
    float* scores = scratch;
    float* vec = scratch + (long)group * ctx;
    float* acc = vec + D;
    for (int kh = 0; kh < HKV; kh++) {
      const float* q0 = qkv + (long)t * row + kh * group * D;
      for (int p = 0; p < ctx; p++) {
        kv_load(vec, kv, f16, kv_index(&s, tables, in, layer, 0, p) + kh * D, D);
        for (int g = 0; g < group; g++) scores[g * ctx + p] = dot(q0 + g * D, vec, D) * scale;
      }
      for (int g = 0; g < group; g++) {
        float* sc = scores + g * ctx;
        float max = sc[0];
        for (int p = 1; p < ctx; p++) max = maxf(max, sc[p]);
        float sum = 0.0f;
        for (int p = 0; p < ctx; p++) sum += sc[p] = expf_(sc[p] - max);
        float inv = 1.0f / sum;
        for (int p = 0; p < ctx; p++) sc[p] *= inv;
      }
      for (int g = 0; g < group; g++) {
        float* o = out + (long)t * HQ * D + (kh * group + g) * D;
        for (int d = 0; d < D; d += 4) wasm_v128_store(o + d, wasm_f32x4_splat(0));
      }
      for (int p = 0; p < ctx; p++) {
        kv_load(vec, kv, f16, kv_index(&s, tables, in, layer, 1, p) + kh * D, D);
        for (int g = 0; g < group; g++) {
          float* o = out + (long)t * HQ * D + (kh * group + g) * D;
          v128_t w = wasm_f32x4_splat(scores[g * ctx + p]);
          for (int d = 0; d < D; d += 4)
            wasm_v128_store(o + d, wasm_f32x4_add(wasm_v128_load(o + d), wasm_f32x4_mul(w, wasm_v128_load(vec + d))));
        }
      }
    }
    (void)acc;
  }
}
