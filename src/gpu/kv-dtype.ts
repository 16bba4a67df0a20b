// How K/V elements are stored in the paged cache. 'f16' (the default): two IEEE binary16 halves packed
// per u32 word with WGSL's core pack2x16float / unpack2x16float (no `shader-f16` feature needed), the
// pair being two neighbouring elements of one head vector (d, d + 1); all arithmetic stays f32. 'f32':
// one f32 per element. The element layout (page, layer, K|V, slot, kv head, d) is the same for both;
// only the bytes per element differ, so a page of f16 K/V takes half the bytes. f16 keeps 11 significant
// bits over |x| <= 65504: K/V beyond that range would not survive (WGSL leaves pack2x16float of such a
// value indeterminate; the CPU reference makes it infinite); choose f32 for a model whose K/V reach it.
import { FormatError, OptionError } from '../errors.ts';

export type KvDtype = 'f16' | 'f32';
export const KV_DTYPES: readonly KvDtype[] = ['f16', 'f32'];
export const DEFAULT_KV_DTYPE: KvDtype = 'f16';

export function kvBytesPerElement(dtype: KvDtype): number {
  return dtype === 'f16' ? 2 : 4;
}

/** Throws an OptionError unless `value` names a K/V storage type. */
export function checkKvDtype(value: unknown): KvDtype {
  if (value !== 'f16' && value !== 'f32') throw new OptionError(`kvDtype must be "f16" or "f32", got "${String(value)}"`);
  return value;
}

/** f16 K/V packs (d, d + 1) pairs of a head vector into one word: the head dimension must be even. */
export function checkKvHeadDim(headDim: number, dtype: KvDtype, file = 'config.json'): void {
  if (dtype === 'f16' && headDim % 2 !== 0) throw new FormatError(file, `head dimension ${headDim} must be even for f16 K/V (two halves per 32-bit word)`);
}

/**
 * WGSL for reading the cache as vec4<f32> (4 consecutive elements of a head vector, index in units of
 * 4 elements): declares binding `binding` as `kv` and `fn kv4(i: u32) -> vec4<f32>`.
 */
export function kvReadWgsl(dtype: KvDtype, binding: number): string {
  if (dtype === 'f32') {
    return `@group(0) @binding(${binding}) var<storage, read> kv: array<vec4<f32>>;\nfn kv4(i: u32) -> vec4<f32> { return kv[i]; }`;
  }
  return (
    `@group(0) @binding(${binding}) var<storage, read> kv: array<vec2<u32>>;\n` +
    `fn kv4(i: u32) -> vec4<f32> { let w = kv[i]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }`
  );
}

/**
 * WGSL for writing the cache two elements at a time: declares binding `binding` as `kv` and
 * `fn kv_store2(e: u32, a: f32, b: f32)` storing elements e (even) and e + 1; f16 rounds each to the
 * nearest half (ties to even), as f32ToF16Bits does in the CPU reference.
 */
export function kvWriteWgsl(dtype: KvDtype, binding: number): string {
  if (dtype === 'f32') {
    return `@group(0) @binding(${binding}) var<storage, read_write> kv: array<f32>;\nfn kv_store2(e: u32, a: f32, b: f32) { kv[e] = a; kv[e + 1u] = b; }`;
  }
  return (
    `@group(0) @binding(${binding}) var<storage, read_write> kv: array<u32>;\n` +
    `fn kv_store2(e: u32, a: f32, b: f32) { kv[e / 2u] = pack2x16float(vec2<f32>(a, b)); }`
  );
}
