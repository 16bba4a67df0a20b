// Writes each row's K and V (after RoPE) into the paged KV cache through its sequence's block table.
// KV layout (all f32; the binding starts at the runner's KV region): page p holds, for every layer,
// K then V of PAGE_SIZE token slots:
//   element (page, layer, kv, slot, kvHead, d) at page * PAGE_FLOATS
//     + ((layer * 2 + kv) * PAGE_SIZE + slot) * HKV * D + kvHead * D + d
// so one page is PAGE_SIZE * kvBytesPerToken(config) bytes. Prepended consts: D, HQ, HKV, PAGE_SIZE,
// PAGE_FLOATS. One invocation per (row, kv head, vec4 of d).

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
struct Layer { index: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> layer: Layer;
@group(0) @binding(2) var<storage, read> row_info: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> block_tables: array<u32>;
@group(0) @binding(4) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> kv: array<vec4<f32>>;

const DV: u32 = D / 4u;
const ROWV: u32 = (HQ + 2u * HKV) * DV;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * 65535u * 64u + gid.x;
  let dv = idx % DV;
  let h = (idx / DV) % HKV;
  let r = idx / (DV * HKV);
  if (r >= dims.rows) { return; }
  let info = row_info[r];
  let page = block_tables[info.z + info.y / PAGE_SIZE];
  let slot = info.y % PAGE_SIZE;
  let kBase = (page * PAGE_FLOATS + ((layer.index * 2u) * PAGE_SIZE + slot) * HKV * D + h * D) / 4u + dv;
  let vBase = kBase + PAGE_SIZE * HKV * DV;
  let src = r * ROWV + HQ * DV + h * DV + dv;
  kv[kBase] = qkv[src];
  kv[vBase] = qkv[src + HKV * DV];
}
