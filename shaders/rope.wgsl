// Rotary position embedding (Hugging Face rotate_half convention) applied in place to the query and key
// heads of each row of the fused qkv activations [q (HQ*D) | k (HKV*D) | v (HKV*D)]. cos/sin come from a
// table computed once on the CPU (f32 of the exact values) for every position, so no large-angle
// trigonometry runs on the device. Prepended consts: D (head dim), HQ, HKV. One invocation per
// (row, head, i < D/2).

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> row_info: array<vec4<u32>>;
// [position][i] -> (cos, sin)
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> qkv: array<f32>;

const HALF: u32 = D / 2u;
const ROW: u32 = (HQ + 2u * HKV) * D;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * 65535u * 64u + gid.x;
  let i = idx % HALF;
  let head = (idx / HALF) % (HQ + HKV);
  let r = idx / (HALF * (HQ + HKV));
  if (r >= dims.rows) { return; }
  let cs = table[row_info[r].y * HALF + i];
  let b = r * ROW + head * D;
  let x1 = qkv[b + i];
  let x2 = qkv[b + i + HALF];
  qkv[b + i] = x1 * cs.x - x2 * cs.y;
  qkv[b + i + HALF] = x2 * cs.x + x1 * cs.y;
}
