// Rotary position embedding (Hugging Face rotate_half convention) fused with the K/V cache write.
// For each row of the fused qkv activations [q (HQ*D) | k (HKV*D) | v (HKV*D)]: the query heads are
// rotated in place; the key heads are rotated and written, with the value heads, into the row's KV page
// slot through its sequence's block table. cos/sin come from a table computed once on the CPU (the f32
// of the exact values) for every position, so no large-angle trigonometry runs on the device.
// One invocation per (row, head of HQ + HKV, i < D/2): a query head's invocation rotates the pair
// (i, i + D/2) in place; a key head's computes and stores elements (2i, 2i + 1) of the rotated key and
// of the value (the pair one f16 word holds), each rotated element by the same expression as a query's.
//
// KV layout (the binding starts at the runner's KV region): page p holds, for every layer, K then V of
// PAGE_SIZE token slots:
//   element (page, layer, kv, slot, kvHead, d) at page * PAGE_FLOATS
//     + ((layer * 2 + kv) * PAGE_SIZE + slot) * HKV * D + kvHead * D + d
// stored as f32, or as f16 with elements 2j and 2j + 1 packed in word j (src/gpu/kv-dtype.ts), so one
// page is PAGE_SIZE * kvBytesPerToken(config, 4 or 2) bytes.
// Prepended consts: D, HQ, HKV, PAGE_SIZE, PAGE_FLOATS (elements per page); the `kv` binding (6) and
// kv_store2 (kv-dtype.ts).

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
  let b = r * ROW + head * D;
  if (head < HQ) {
    let cs = table[info.y * HALF + i];
    let x1 = qkv[b + i];
    let x2 = qkv[b + i + HALF];
    qkv[b + i] = x1 * cs.x - x2 * cs.y;
    qkv[b + i + HALF] = x2 * cs.x + x1 * cs.y;
    return;
  }
  let h = head - HQ;
  let page = block_tables[info.z + info.y / PAGE_SIZE];
  let k = page * PAGE_FLOATS + ((layer.index * 2u) * PAGE_SIZE + info.y % PAGE_SIZE) * HKV * D + h * D;
  let v = k + PAGE_SIZE * HKV * D;
  let d = 2u * i;
  kv_store2(k + d, rotated(b, d, info.y), rotated(b, d + 1u, info.y));
  let vs = b + HKV * D;
  kv_store2(v + d, qkv[vs + d], qkv[vs + d + 1u]);
}

// Element d of the rotated head vector at qkv[b..]: x[d] cos - x[d + HALF] sin in the first half,
// x[d] cos + x[d - HALF] sin in the second (the query path's expressions, term for term).
fn rotated(b: u32, d: u32, pos: u32) -> f32 {
  if (d < HALF) {
    let cs = table[pos * HALF + d];
    return qkv[b + d] * cs.x - qkv[b + d + HALF] * cs.y;
  }
  let cs = table[pos * HALF + d - HALF];
  return qkv[b + d] * cs.x + qkv[b + d - HALF] * cs.y;
}
