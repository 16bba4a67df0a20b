// Causal grouped-query attention over the paged KV cache, one invocation per (row, query head), for
// prefill chunks and decode alike: row r at position pos attends to positions 0..pos of its sequence,
// read through the block table, with an online softmax in position order. A query's result depends
// only on its sequence's cached K/V, never on the chunk or batch it came in.
// Prepended consts: D, HQ, HKV, PAGE_SIZE, PAGE_FLOATS, SCALE (1/sqrt(D)). Layout as kv-write.wgsl.

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
struct Layer { index: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> layer: Layer;
@group(0) @binding(2) var<storage, read> row_info: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> block_tables: array<u32>;
@group(0) @binding(4) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> kv: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f32>>;

const DV: u32 = D / 4u;
const ROWV: u32 = (HQ + 2u * HKV) * DV;
const GROUP: u32 = HQ / HKV;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * 65535u * 64u + gid.x;
  let h = idx % HQ;
  let r = idx / HQ;
  if (r >= dims.rows) { return; }
  let info = row_info[r];
  let kvh = h / GROUP;
  var q: array<vec4<f32>, DV>;
  for (var i = 0u; i < DV; i++) { q[i] = qkv[r * ROWV + h * DV + i]; }
  var acc: array<vec4<f32>, DV>;
  var m = 0.0;
  var l = 0.0;
  for (var p = 0u; p <= info.y; p++) {
    let page = block_tables[info.z + p / PAGE_SIZE];
    let kBase = (page * PAGE_FLOATS + ((layer.index * 2u) * PAGE_SIZE + p % PAGE_SIZE) * HKV * D + kvh * D) / 4u;
    let vBase = kBase + PAGE_SIZE * HKV * DV;
    var s = 0.0;
    for (var i = 0u; i < DV; i++) { s += dot(q[i], kv[kBase + i]); }
    s = s * SCALE;
    if (p == 0u) {
      m = s;
      l = 1.0;
      for (var i = 0u; i < DV; i++) { acc[i] = kv[vBase + i]; }
    } else if (s > m) {
      let c = exp(m - s);
      m = s;
      l = l * c + 1.0;
      for (var i = 0u; i < DV; i++) { acc[i] = acc[i] * c + kv[vBase + i]; }
    } else {
      let e = exp(s - m);
      l = l + e;
      for (var i = 0u; i < DV; i++) { acc[i] = acc[i] + e * kv[vBase + i]; }
    }
  }
  let inv = 1.0 / l;
  for (var i = 0u; i < DV; i++) { out[r * (HQ * DV) + h * DV + i] = acc[i] * inv; }
}
