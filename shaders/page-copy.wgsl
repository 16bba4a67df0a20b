// Copies whole KV pages within the one KV buffer (copyBufferToBuffer cannot copy a buffer onto itself):
// pair k copies page pairs[2k] to page pairs[2k + 1] (no page may be both a source and a destination
// in one call). Prepended const: PAGE_VEC4 (16-byte units per page). The copy moves bits only (vec4s of
// u32 words, never reinterpreted as floats), so it serves f32 and packed f16 K/V alike.
// One invocation per (pair, vec4).

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> pairs: array<u32>;
@group(0) @binding(2) var<storage, read_write> kv: array<vec4<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * 65535u * 64u + gid.x;
  let k = idx / PAGE_VEC4;
  let i = idx % PAGE_VEC4;
  if (k >= dims.rows) { return; }
  kv[pairs[2u * k + 1u] * PAGE_VEC4 + i] = kv[pairs[2u * k] * PAGE_VEC4 + i];
}
