// Element-wise pieces of the verifier heads, one invocation per row (or element):
//   sigmoid_rows: score[r] = sigmoid(v[r])                      (value head: Linear(h -> 1) + sigmoid)
//   relu:         v[i] = max(v[i], 0) for i < rows * COLS        (two-class head: score.0 + ReLU)
//   softmax2:     score[r] = softmax(v[r, 0..2])[1]              (two-class head: positive class)
// Prepended const: COLS (columns of v for relu).

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read_write> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> score: array<f32>;

@compute @workgroup_size(64)
fn sigmoid_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= dims.rows) { return; }
  score[r] = 1.0 / (1.0 + exp(-v[r]));
}

@compute @workgroup_size(64)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * 65535u * 64u + gid.x;
  if (i >= dims.rows * COLS) { return; }
  v[i] = max(v[i], 0.0);
}

@compute @workgroup_size(64)
fn softmax2(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= dims.rows) { return; }
  score[r] = 1.0 / (1.0 + exp(v[r * 2u] - v[r * 2u + 1u]));
}
