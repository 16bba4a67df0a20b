// Row-wise element kernels: RMS norm and the SwiGLU activation.
#include "common.h"

// y[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight (H a multiple of 4)
EXPORT(rmsnorm)
void rmsnorm(float* y, const float* x, int T, int H, const float* weight, float eps) {
  for (int t = 0; t < T; t++) {
    const float* xr = x + (long)t * H;
    float* yr = y + (long)t * H;
    v128_t ss = wasm_f32x4_splat(0);
    for (int i = 0; i < H; i += 4) {
      v128_t v = wasm_v128_load(xr + i);
      ss = wasm_f32x4_add(ss, wasm_f32x4_mul(v, v));
    }
    float inv = 1.0f / __builtin_sqrtf(hsum4(ss) / (float)H + eps);
    for (int i = 0; i < H; i++) yr[i] = xr[i] * inv * weight[i];
  }
}

// act[i] = silu(gate[i]) * up[i]
EXPORT(swiglu)
void swiglu(float* act, const float* gate, const float* up, int n) {
  for (int i = 0; i < n; i++) {
    float g = gate[i];
    act[i] = g / (1.0f + expf_(-g)) * up[i];
  }
}
