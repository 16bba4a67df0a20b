// RMSNorm (Qwen2): y = x / sqrt(mean(x^2) + eps) * weight, one invocation per row, the sum of squares
// accumulated sequentially in vec4 order (so a row's result never depends on the batch).
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
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= dims.rows) { return; }
  var src = r;
  if (ROW_INDEXED == 1u) { src = row_index[dims.base + r]; }
  var ss = 0.0;
  for (var i = 0u; i < HV; i++) { let v = x[src * HV + i]; ss += dot(v, v); }
  let inv = 1.0 / sqrt(ss / f32(H) + EPS);
  for (var i = 0u; i < HV; i++) { y[r * HV + i] = (x[src * HV + i] * inv) * weight[i]; }
}
