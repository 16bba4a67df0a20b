// Embedding gather: x[r, :] = dequantized row token[r] of the (packed) embedding matrix, for the tokens
// whose ids fall in this weight part [ROW_OFFSET, ROW_OFFSET + N). Prepended consts: K (hidden size),
// N, ROW_OFFSET, FORMAT; plus dequant.wgsl. One invocation per (row, group of 32).

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
// Per token row: token id, position, offset of its sequence's block table, unused.
@group(0) @binding(1) var<storage, read> row_info: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> scales: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.y * 65535u * 64u + gid.x;
  let r = i / GROUPS;
  let g = i % GROUPS;
  if (r >= dims.rows) { return; }
  let token = row_info[r].x;
  if (token < ROW_OFFSET || token >= ROW_OFFSET + N) { return; }
  let v = decode_group(token - ROW_OFFSET, g);
  let scale = group_scale(token - ROW_OFFSET, g);
  let ob = r * (K / 4u) + g * 8u;
  for (var j = 0u; j < 8u; j++) { out[ob + j] = v[j] * scale; }
}
