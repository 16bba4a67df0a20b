// Causal grouped-query attention over the paged KV cache, for prefill chunks and decode alike: row r at
// position pos attends to positions 0..pos of its sequence, read through the block table. A query's
// result depends only on its sequence's cached K/V and position, never on the chunk or batch it came
// in: both variants fix the order of every sum by absolute position.
//   main_cpu: one invocation per (row, query head), an online softmax in position order, no barriers.
//   main_gpu: one workgroup per (row, query head); positions in blocks of 64 (one per thread: its score),
//             block max and sum by a fixed tree, each thread owning output dims and summing the block's
//             weighted V in position order; an online softmax across blocks.
// Prepended consts: D, HQ, HKV, PAGE_SIZE, PAGE_FLOATS, SCALE (1/sqrt(D)); the `kv` binding (5) and
// kv4(i), the i-th 4 elements of the cache as vec4<f32> from f32 or packed f16 storage (kv-dtype.ts).
// Layout as rope-kv.wgsl.

struct Dims { rows: u32, base: u32, pad0: u32, pad1: u32 }
struct Layer { index: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<uniform> layer: Layer;
@group(0) @binding(2) var<storage, read> row_info: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> block_tables: array<u32>;
@group(0) @binding(4) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> out: array<vec4<f32>>;

const DV: u32 = D / 4u;
const ROWV: u32 = (HQ + 2u * HKV) * DV;
const GROUP: u32 = HQ / HKV;

fn k_base(table: u32, p: u32, kvh: u32) -> u32 {
  let page = block_tables[table + p / PAGE_SIZE];
  return (page * PAGE_FLOATS + ((layer.index * 2u) * PAGE_SIZE + p % PAGE_SIZE) * HKV * D + kvh * D) / 4u;
}

@compute @workgroup_size(64)
fn main_cpu(@builtin(global_invocation_id) gid: vec3<u32>) {
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
    let kBase = k_base(info.z, p, kvh);
    let vBase = kBase + PAGE_SIZE * HKV * DV;
    var s = 0.0;
    for (var i = 0u; i < DV; i++) { s += dot(q[i], kv4(kBase + i)); }
    s = s * SCALE;
    if (p == 0u) {
      m = s;
      l = 1.0;
      for (var i = 0u; i < DV; i++) { acc[i] = kv4(vBase + i); }
    } else if (s > m) {
      let c = exp(m - s);
      m = s;
      l = l * c + 1.0;
      for (var i = 0u; i < DV; i++) { acc[i] = acc[i] * c + kv4(vBase + i); }
    } else {
      let e = exp(s - m);
      l = l + e;
      for (var i = 0u; i < DV; i++) { acc[i] = acc[i] + e * kv4(vBase + i); }
    }
  }
  let inv = 1.0 / l;
  for (var i = 0u; i < DV; i++) { out[r * (HQ * DV) + h * DV + i] = acc[i] * inv; }
}

const WG: u32 = 64u;
// Output vec4s per thread in main_gpu (threads own whole vec4s: no two threads write one vector).
const DPT: u32 = (DV + WG - 1u) / WG;
// Finite "minus infinity": exp(NEG - m) is exactly 0 without inf - inf.
const NEG: f32 = -3.0e38;
var<workgroup> q_shared: array<vec4<f32>, DV>;
var<workgroup> weights: array<f32, WG>;
var<workgroup> reduce: array<f32, WG>;

@compute @workgroup_size(64)
fn main_gpu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let idx = wid.y * 65535u + wid.x;
  let h = idx % HQ;
  let r = idx / HQ;
  if (r >= dims.rows) { return; }
  let info = row_info[r];
  let kvh = h / GROUP;
  let ctx = info.y + 1u;
  for (var i = tid; i < DV; i += WG) { q_shared[i] = qkv[r * ROWV + h * DV + i]; }
  workgroupBarrier();
  var acc: array<vec4<f32>, DPT>;
  var m = NEG;
  var l = 0.0;
  for (var b = 0u; b < ctx; b += WG) {
    let p = b + tid;
    var s = NEG;
    if (p < ctx) {
      let kBase = k_base(info.z, p, kvh);
      var dotv = 0.0;
      for (var i = 0u; i < DV; i++) { dotv += dot(q_shared[i], kv4(kBase + i)); }
      s = dotv * SCALE;
    }
    reduce[tid] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
      if (tid < stride) { reduce[tid] = max(reduce[tid], reduce[tid + stride]); }
      workgroupBarrier();
    }
    let m_new = max(m, reduce[0]);
    workgroupBarrier();
    var e = 0.0;
    if (p < ctx) { e = exp(s - m_new); }
    weights[tid] = e;
    reduce[tid] = e;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
      if (tid < stride) { reduce[tid] = reduce[tid] + reduce[tid + stride]; }
      workgroupBarrier();
    }
    let c = exp(m - m_new);
    l = l * c + reduce[0];
    let count = min(WG, ctx - b);
    for (var j = 0u; j < DPT; j++) {
      let dv = j * WG + tid;
      if (dv < DV) {
        var sum = vec4<f32>(0.0);
        for (var t = 0u; t < count; t++) { sum += weights[t] * kv4(k_base(info.z, b + t, kvh) + PAGE_SIZE * HKV * DV + dv); }
        acc[j] = acc[j] * c + sum;
      }
    }
    m = m_new;
    workgroupBarrier();
  }
  let inv = 1.0 / l;
  for (var j = 0u; j < DPT; j++) {
    let dv = j * WG + tid;
    if (dv < DV) { out[r * (HQ * DV) + h * DV + dv] = acc[j] * inv; }
  }
}
