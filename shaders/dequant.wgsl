// Shared by the kernels that read packed weight matrices (matmul, embedding gather); the launcher
// prepends this file. Formats exactly as src/model/quant.ts, groups of 32 values along a row:
//   FORMAT 0 (f32): 32 f32 bit patterns per group (8 vec4<u32>), scale 1.
//   FORMAT 1 (q8):  8 u32 per group, 4 int8 per word, byte j%4 = element j; value = int8 * scale.
//   FORMAT 2 (q4):  4 u32 per group, 8 nibbles per word, nibble j%8 = element j; value = (nibble - 8) * scale.
//   FORMAT 3 (f16), 4 (bf16): 16 u32 per group, two values per word (low half first), scale 1.
// Scales are halves, two per word (low half first), each row's padded to a whole word.
// Needs consts FORMAT, K (row length) and the bindings `w: array<vec4<u32>>`, `scales: array<u32>`.

const GROUPS: u32 = K / 32u;
const SCALE_WORDS: u32 = (GROUPS + 1u) / 2u;

// The 32 quantized values of group g of row n, as 8 vec4 in element order (exact small integers or f32).
fn decode_group(n: u32, g: u32) -> array<vec4<f32>, 8> {
  var v: array<vec4<f32>, 8>;
  if (FORMAT == 0u) {
    let base = (n * GROUPS + g) * 8u;
    for (var j = 0u; j < 8u; j++) { v[j] = bitcast<vec4<f32>>(w[base + j]); }
  } else if (FORMAT == 3u || FORMAT == 4u) {
    let base = (n * GROUPS + g) * 4u;
    for (var j = 0u; j < 4u; j++) {
      let q = w[base + j];
      if (FORMAT == 3u) {
        v[j * 2u] = vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
        v[j * 2u + 1u] = vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w));
      } else {
        // bf16 is the top half of an f32.
        v[j * 2u] = bitcast<vec4<f32>>(vec4<u32>(q.x << 16u, q.x & 0xffff0000u, q.y << 16u, q.y & 0xffff0000u));
        v[j * 2u + 1u] = bitcast<vec4<f32>>(vec4<u32>(q.z << 16u, q.z & 0xffff0000u, q.w << 16u, q.w & 0xffff0000u));
      }
    }
  } else if (FORMAT == 1u) {
    let base = (n * GROUPS + g) * 2u;
    for (var j = 0u; j < 2u; j++) {
      let q = w[base + j];
      for (var c = 0u; c < 4u; c++) {
        let word = q[c];
        v[j * 4u + c] = vec4<f32>(vec4<i32>(
          bitcast<i32>(word << 24u) >> 24u, bitcast<i32>(word << 16u) >> 24u,
          bitcast<i32>(word << 8u) >> 24u, bitcast<i32>(word) >> 24u));
      }
    }
  } else {
    let q = w[n * GROUPS + g];
    for (var c = 0u; c < 4u; c++) {
      let word = q[c];
      v[c * 2u] = vec4<f32>(vec4<i32>(vec4<u32>(word, word >> 4u, word >> 8u, word >> 12u) & vec4<u32>(15u)) - vec4<i32>(8));
      v[c * 2u + 1u] = vec4<f32>(vec4<i32>(vec4<u32>(word >> 16u, word >> 20u, word >> 24u, word >> 28u) & vec4<u32>(15u)) - vec4<i32>(8));
    }
  }
  return v;
}

fn group_scale(n: u32, g: u32) -> f32 {
  if (FORMAT == 0u || FORMAT >= 3u) { return 1.0; }
  return unpack2x16float(scales[n * SCALE_WORDS + g / 2u])[g % 2u];
}
