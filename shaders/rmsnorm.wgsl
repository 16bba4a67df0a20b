// RMSNorm (Qwen2): y = x / sqrt(mean(x^2) + eps) * weight. A row's result never depends on the batch:
//   main_cpu: one invocation per row, the sum of squares accumulated sequentially in vec4 order;
//   main_gpu: one workgroup per row, 64 sequential partial sums (vec4 i = tid mod 64) and a fixed tree.
// Prepended consts: H (hidden size), EPS, ROW_INDEXED (1: source row = row_index[dims.base + r], used to
// normalize only the output rows before the heads).

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> row_index: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;

const HV: u32 = H / 4u;

@compute @workgroup_size(64)
fn main_cpu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= dims.rows) { return; }
  var src = r;
  if (ROW_INDEXED == 1u) { src = row_index[dims.base + r]; }
  var ss = 0.0;
  for (var i = 0u; i < HV; i++) { let v = x[src * HV + i]; ss += dot(v, v); }
  let inv = 1.0 / sqrt(ss / f32(H) + EPS);
  for (var i = 0u; i < HV; i++) { y[r * HV + i] = (x[src * HV + i] * inv) * weight[i]; }
}

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main_gpu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let r = wid.y * 65535u + wid.x;
  if (r >= dims.rows) { return; }
  var src = r;
  if (ROW_INDEXED == 1u) { src = row_index[dims.base + r]; }
  var ss = 0.0;
  for (var i = tid; i < HV; i += WG) { let v = x[src * HV + i]; ss += dot(v, v); }
  partial[tid] = ss;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (tid < stride) { partial[tid] = partial[tid] + partial[tid + stride]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(partial[0] / f32(H) + EPS);
  for (var i = tid; i < HV; i += WG) { y[r * HV + i] = (x[src * HV + i] * inv) * weight[i]; }
}
