// y[r, N_OFFSET + n] (+)= sum_k xn[r, k] * W[n, k] + bias[N_OFFSET + n] for the rows of one weight part,
// where xn = x, or with NORM = 1 the RMSNorm of x (x / sqrt(mean(x^2) + EPS) * norm_w: the layer norm
// before the projection, fused into it). With GLU = 1 (the SwiGLU MLP's gate/up projection, fused with
// the activation): y[r, n] = silu(xn W[n]) * (xn W_up[n]), W the gate and W_up the up projection.
// Prepended consts: K, N (rows of this part), N_OFFSET, OUT_STRIDE, FORMAT, ROWS_PER_TILE, HAS_BIAS,
// ACCUMULATE (add into y: the residual add fused into the projection), NORM, EPS, GLU, GRID_X (gpu
// variant); then dequant.wgsl for `w` and again for `w_up`.
//
// Determinism (the search's exact-equivalence guarantee rests on it): every output element is summed
// in one fixed order that depends on nothing but (n, K): per group of 32, a sequential sum of 8 vec4
// dot products times the group's scale, and the groups combined in a fixed order (cpu: sequential;
// gpu: 8 per-thread sequential partials over groups g = lane mod 8, then a fixed tree). The norm's sum
// of squares likewise (cpu: sequential over vec4s; gpu: 64 strided partials, then a fixed tree). How many
// rows share the dispatch, tile or workgroup never changes a row's arithmetic.

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> norm_w: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> w_up: array<vec4<u32>>;
@group(0) @binding(7) var<storage, read> scales_up: array<u32>;
@group(0) @binding(8) var<storage, read_write> y: array<f32>;

const X_VEC_PER_ROW: u32 = K / 4u;

// The sum of one decoded group with one row of x (normalized by `inv` with NORM): 8 dots in order.
fn group_row_dot(v: array<vec4<f32>, 8>, r: u32, g: u32, inv: f32) -> f32 {
  let xb = r * X_VEC_PER_ROW + g * 8u;
  var s = 0.0;
  for (var j = 0u; j < 8u; j++) {
    var xv = x[xb + j];
    if (NORM == 1u) { xv = (xv * inv) * norm_w[g * 8u + j]; }
    s += dot(v[j], xv);
  }
  return s;
}

fn inverse_rms(sum_of_squares: f32) -> f32 {
  return 1.0 / sqrt(sum_of_squares / f32(K) + EPS);
}

fn store(r: u32, n: u32, acc: f32, acc_up: f32) {
  var value = acc;
  if (HAS_BIAS == 1u) { value += bias[N_OFFSET + n]; }
  if (GLU == 1u) { value = value / (1.0 + exp(-value)) * acc_up; }
  let i = r * OUT_STRIDE + N_OFFSET + n;
  if (ACCUMULATE == 1u) { y[i] = y[i] + value; } else { y[i] = value; }
}

// CPU devices: one output column per invocation, ROWS_PER_TILE rows sharing each decoded weight group;
// no barriers.
@compute @workgroup_size(64)
fn main_cpu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let r0 = gid.y * ROWS_PER_TILE;
  if (n >= N || r0 >= dims.rows) { return; }
  let count = min(ROWS_PER_TILE, dims.rows - r0);
  var inv: array<f32, ROWS_PER_TILE>;
  if (NORM == 1u) {
    for (var t = 0u; t < count; t++) {
      var ss = 0.0;
      for (var i = 0u; i < X_VEC_PER_ROW; i++) { let xv = x[(r0 + t) * X_VEC_PER_ROW + i]; ss += dot(xv, xv); }
      inv[t] = inverse_rms(ss);
    }
  }
  var acc: array<f32, ROWS_PER_TILE>;
  var acc_up: array<f32, ROWS_PER_TILE>;
  for (var g = 0u; g < GROUPS; g++) {
    let v = decode_group(n, g);
    let scale = group_scale(n, g);
    for (var t = 0u; t < count; t++) { acc[t] += group_row_dot(v, r0 + t, g, inv[t]) * scale; }
    if (GLU == 1u) {
      let vu = decode_group_up(n, g);
      let su = group_scale_up(n, g);
      for (var t = 0u; t < count; t++) { acc_up[t] += group_row_dot(vu, r0 + t, g, inv[t]) * su; }
    }
  }
  for (var t = 0u; t < count; t++) { store(r0 + t, n, acc[t], acc_up[t]); }
}

// GPUs: a workgroup of 64 threads computes CPW = 8 output columns for a tile of ROWS_PER_TILE rows;
// the TPC = 8 threads of a column split its groups (g = lane mod 8, coalesced 8 neighbouring groups per
// step), then a fixed 3-level tree in workgroup memory combines their partial sums.
const WG: u32 = 64u;
const TPC: u32 = 8u;
const CPW: u32 = WG / TPC;
var<workgroup> partial: array<f32, WG * ROWS_PER_TILE>;
var<workgroup> partial_up: array<f32, WG * ROWS_PER_TILE>;

@compute @workgroup_size(64)
fn main_gpu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lane = tid % TPC;
  let n = (wid.y * GRID_X + wid.x) * CPW + tid / TPC;
  let r0 = wid.z * ROWS_PER_TILE;
  if (r0 >= dims.rows) { return; }
  let count = min(ROWS_PER_TILE, dims.rows - r0);
  var inv: array<f32, ROWS_PER_TILE>;
  if (NORM == 1u) {
    for (var t = 0u; t < ROWS_PER_TILE; t++) {
      var ss = 0.0;
      if (t < count) {
        for (var i = tid; i < X_VEC_PER_ROW; i += WG) { let xv = x[(r0 + t) * X_VEC_PER_ROW + i]; ss += dot(xv, xv); }
      }
      partial[t * WG + tid] = ss;
    }
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
      if (tid < stride) {
        for (var t = 0u; t < ROWS_PER_TILE; t++) { partial[t * WG + tid] += partial[t * WG + tid + stride]; }
      }
      workgroupBarrier();
    }
    for (var t = 0u; t < ROWS_PER_TILE; t++) { inv[t] = inverse_rms(partial[t * WG]); }
    workgroupBarrier();
  }
  var acc: array<f32, ROWS_PER_TILE>;
  var acc_up: array<f32, ROWS_PER_TILE>;
  if (n < N) {
    for (var g = lane; g < GROUPS; g += TPC) {
      let v = decode_group(n, g);
      let scale = group_scale(n, g);
      for (var t = 0u; t < count; t++) { acc[t] += group_row_dot(v, r0 + t, g, inv[t]) * scale; }
      if (GLU == 1u) {
        let vu = decode_group_up(n, g);
        let su = group_scale_up(n, g);
        for (var t = 0u; t < count; t++) { acc_up[t] += group_row_dot(vu, r0 + t, g, inv[t]) * su; }
      }
    }
  }
  for (var t = 0u; t < ROWS_PER_TILE; t++) {
    partial[t * WG + tid] = acc[t];
    partial_up[t * WG + tid] = acc_up[t];
  }
  workgroupBarrier();
  for (var stride = TPC / 2u; stride > 0u; stride = stride / 2u) {
    if (lane < stride) {
      for (var t = 0u; t < ROWS_PER_TILE; t++) {
        partial[t * WG + tid] += partial[t * WG + tid + stride];
        if (GLU == 1u) { partial_up[t * WG + tid] += partial_up[t * WG + tid + stride]; }
      }
    }
    workgroupBarrier();
  }
  if (lane == 0u && n < N) {
    for (var t = 0u; t < count; t++) { store(r0 + t, n, partial[t * WG + tid], partial_up[t * WG + tid]); }
  }
}
