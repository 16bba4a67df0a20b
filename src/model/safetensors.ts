// Safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}},
// then the raw tensor bytes. Only the header is read up front; each tensor's byte range is read when
// it is needed and converted to f32. Every field of the (untrusted) header is checked before use.
import { FormatError } from '../errors.ts';
import { decodeBf16, decodeF16, decodeF32, f32ToBf16Bits, f32ToF16Bits } from '../gpu/float16.ts';
import { isRecord, parseJsonBytes, quote } from './json-guard.ts';
import { readRange, type ByteFile } from './sources/byte-file.ts';
import { readTensorSlices } from './tensor-reader.ts';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';
export const SAFETENSORS_DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** Dtypes the format defines that this engine does not load (a clear message instead of "unknown"). */
const OTHER_DTYPES = new Set([
  'F64',
  'I64',
  'I32',
  'I16',
  'I8',
  'U64',
  'U32',
  'U16',
  'U8',
  'BOOL',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'C64',
]);
/** The reference implementation's limit; real headers are well under 1 MiB. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: ByteFile;
  /** Entries in file order. */
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

export async function readSafetensorsHeader(file: ByteFile): Promise<SafetensorsHeader> {
  if (file.size < 8) throw new FormatError(file.name, `truncated: ${file.size} bytes is too short for a safetensors file`);
  const lenBytes = await readRange(file, 0, 8, 'header length');
  const lo = lenBytes[0] | (lenBytes[1] << 8) | (lenBytes[2] << 16) | (lenBytes[3] << 24);
  const hi = lenBytes[4] | (lenBytes[5] << 8) | (lenBytes[6] << 16) | (lenBytes[7] << 24);
  const headerLen = (hi >>> 0) * 2 ** 32 + (lo >>> 0);
  if (headerLen > file.size - 8) throw new FormatError(file.name, `header length ${headerLen} runs past the end of the ${file.size}-byte file`);
  if (headerLen > MAX_HEADER_BYTES) throw new FormatError(file.name, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLen < 2) throw new FormatError(file.name, `header length ${headerLen} is too short for a JSON object`);
  const json = parseJsonBytes(await readRange(file, 8, headerLen, 'header'), file.name, { maxDepth: 4 });
  if (!isRecord(json)) throw new FormatError(file.name, 'header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataSize = file.size - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(raw) || Object.values(raw).some((v) => typeof v !== 'string')) throw new FormatError(file.name, '__metadata__ must map strings to strings');
      metadata = raw as Record<string, string>;
      continue;
    }
    entries.push(parseEntry(file.name, name, raw, dataStart, dataSize));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].begin < entries[i - 1].end) {
      throw new FormatError(file.name, `tensors ${quote(entries[i - 1].name)} and ${quote(entries[i].name)} overlap`);
    }
  }
  return { file, entries, metadata };
}

function parseEntry(fileName: string, name: string, raw: unknown, dataStart: number, dataSize: number): SafetensorsEntry {
  const where = `tensor ${quote(name)}`;
  if (name.length === 0) throw new FormatError(fileName, 'empty tensor name');
  if (!isRecord(raw)) throw new FormatError(fileName, `${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') throw new FormatError(fileName, `${where}: dtype is missing`);
  if (!(dtype in SAFETENSORS_DTYPE_BYTES)) {
    const why = OTHER_DTYPES.has(dtype) ? 'unsupported' : 'unknown';
    throw new FormatError(fileName, `${where}: ${why} dtype ${JSON.stringify(dtype.slice(0, 20))} (supported: F32, F16, BF16)`);
  }
  if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new FormatError(fileName, `${where}: shape must be a list of at most 8 non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new FormatError(fileName, `${where}: data_offsets must be two non-negative integers`);
  }
  const [b, e] = offsets as number[];
  if (b > e || e > dataSize) throw new FormatError(fileName, `${where}: data_offsets [${b}, ${e}] out of range of the ${dataSize} data bytes`);
  const bytesPer = SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDtype];
  let elements = 1;
  for (const d of shape as number[]) {
    elements *= d;
    if (elements * bytesPer > dataSize) throw new FormatError(fileName, `${where}: shape [${shape.join(', ')}] is larger than the file`);
  }
  if (elements * bytesPer !== e - b) {
    throw new FormatError(fileName, `${where}: shape [${shape.join(', ')}] of ${dtype} needs ${elements * bytesPer} bytes but data_offsets give ${e - b}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e };
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads one tensor in slices, converting each to f32 into the output (see tensor-reader.ts). */
export async function readSafetensorsTensor(file: ByteFile, entry: SafetensorsEntry, onBytes?: (done: number) => void): Promise<Float32Array> {
  const bytesPer = SAFETENSORS_DTYPE_BYTES[entry.dtype];
  const out = new Float32Array((entry.end - entry.begin) / bytesPer);
  const decode = entry.dtype === 'F32' ? decodeF32 : entry.dtype === 'F16' ? decodeF16 : decodeBf16;
  await readTensorSlices(
    file,
    entry.begin,
    entry.end - entry.begin,
    out,
    { blockBytes: bytesPer, blockElements: 1 },
    (bytes, o) => decode(bytes, 0, o.length, o),
    `tensor ${quote(entry.name)}`,
    onBytes,
  );
  return out;
}

/** A 16-bit (F16/BF16) tensor's values as stored, two per word: the engine's f16/bf16 weight format. */
export async function readSafetensorsHalves(file: ByteFile, entry: SafetensorsEntry, onBytes?: (done: number) => void): Promise<Uint32Array> {
  const bytes = entry.end - entry.begin;
  if (entry.dtype === 'F32' || bytes % 4 !== 0) throw new RangeError(`readSafetensorsHalves: ${entry.name} is ${entry.dtype} with ${bytes} bytes`);
  // Read as 4-byte blocks copied verbatim: the words hold the halves in file order.
  const words = new Float32Array(bytes / 4);
  const layout = { blockBytes: 4, blockElements: 1 };
  await readTensorSlices(file, entry.begin, bytes, words, layout, (b, o) => decodeF32(b, 0, o.length, o), `tensor ${quote(entry.name)}`, onBytes);
  return new Uint32Array(words.buffer);
}

// ---- writing (fixtures and tests) ----

export interface SafetensorsTensorSpec {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
}

/** The file prefix (length + JSON header padded to 8 bytes) for tensors stored back to back in order. */
export function encodeSafetensorsHeader(specs: SafetensorsTensorSpec[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const s of specs) {
    const bytes = elementCount(s.shape) * SAFETENSORS_DTYPE_BYTES[s.dtype];
    header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
  out.set(body, 8);
  return out;
}

/** Encodes f32 values in a safetensors dtype (little-endian, round to nearest even). */
export function encodeTensorValues(values: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint16Array(values.length);
  const convert = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]);
  return new Uint8Array(out.buffer);
}

/** A whole safetensors file in memory (small fixtures and tests only). */
export function encodeSafetensors(tensors: Array<SafetensorsTensorSpec & { values: Float32Array }>, metadata?: Record<string, string>): Uint8Array {
  const parts = [encodeSafetensorsHeader(tensors, metadata), ...tensors.map((t) => encodeTensorValues(t.values, t.dtype))];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
