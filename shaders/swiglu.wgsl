// SwiGLU: act[r, i] = silu(gate[r, i]) * up[r, i], from the fused gate/up projection [gate (I) | up (I)].
// Prepended const: I (intermediate size). One invocation per element.

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> gate_up: array<f32>;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * 65535u * 64u + gid.x;
  let r = idx / I;
  let i = idx % I;
  if (r >= dims.rows) { return; }
  let g = gate_up[r * 2u * I + i];
  let u = gate_up[r * 2u * I + I + i];
  act[idx] = g / (1.0 + exp(-g)) * u;
}
