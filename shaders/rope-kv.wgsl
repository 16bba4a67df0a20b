// Rotary position embedding (Hugging Face rotate_half convention) fused with the K/V cache write.
// For each row of the fused qkv activations [q (HQ*D) | k (HKV*D) | v (HKV*D)]: the query heads are
// rotated in place; the key heads are rotated and written, with the value heads, into the row's KV page
// slot through its sequence's block table. cos/sin come from a table computed once on the CPU (the f32
// of the exact values) for every position, so no large-angle trigonometry runs on the device.
// One invocation per (row, head of HQ + HKV, i < D/2).
//
// KV layout (all f32; the binding starts at the runner's KV region): page p holds, for every layer,
// K then V of PAGE_SIZE token slots:
//   element (page, layer, kv, slot, kvHead, d) at page * PAGE_FLOATS
//     + ((layer * 2 + kv) * PAGE_SIZE + slot) * HKV * D + kvHead * D + d
// so one page is PAGE_SIZE * kvBytesPerToken(config) bytes.
// Prepended consts: D, HQ, HKV, PAGE_SIZE, PAGE_FLOATS.

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
struct Layer { index: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> layer: Layer;
// Per token row: token id, position, offset of its sequence's block table, unused.
@group(0) @binding(2) var<storage, read> row_info: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> block_tables: array<u32>;
// [position][i] -> (cos, sin)
@group(0) @binding(4) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(6) var<storage, read_write> kv: array<f32>;

const HALF: u32 = D / 2u;
const ROW: u32 = (HQ + 2u * HKV) * D;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.y * 65535u * 64u + gid.x;
  let i = idx % HALF;
  let head = (idx / HALF) % (HQ + HKV);
  let r = idx / (HALF * (HQ + HKV));
  if (r >= dims.rows) { return; }
  let info = row_info[r];
  let cs = table[info.y * HALF + i];
  let b = r * ROW + head * D;
  let x1 = qkv[b + i];
  let x2 = qkv[b + i + HALF];
  let y1 = x1 * cs.x - x2 * cs.y;
  let y2 = x2 * cs.x + x1 * cs.y;
  if (head < HQ) {
    qkv[b + i] = y1;
    qkv[b + i + HALF] = y2;
    return;
  }
  let h = head - HQ;
  let page = block_tables[info.z + info.y / PAGE_SIZE];
  let k = page * PAGE_FLOATS + ((layer.index * 2u) * PAGE_SIZE + info.y % PAGE_SIZE) * HKV * D + h * D;
  let v = k + PAGE_SIZE * HKV * D;
  kv[k + i] = y1;
  kv[k + i + HALF] = y2;
  let vs = b + HKV * D;
  kv[v + i] = qkv[vs + i];
  kv[v + i + HALF] = qkv[vs + i + HALF];
}
