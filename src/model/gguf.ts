// GGUF v2/v3: "GGUF", version, tensor count, metadata key/values, tensor infos, then aligned tensor
// data. The header is read through a small buffered cursor (never the whole file); every count and
// size read from the (untrusted) file is checked against the bytes that remain before anything is
// allocated. Tensors are read and dequantized to f32 one at a time.
import { FormatError } from '../errors.ts';
import { GGML_BLOCKS, dequantizeInto, ggmlTypeName, type GgmlType } from './gguf-quant.ts';
import { readTensorSlices } from './tensor-reader.ts';
import { decodeUtf8, quote } from './json-guard.ts';
import { readRange, type ByteFile } from './sources/byte-file.ts';

export type GgufValue = number | bigint | boolean | string | GgufValue[] | Float32Array | Int32Array;

export interface GgufTensorInfo {
  name: string;
  /** GGML order: dims[0] is the contiguous (innermost) one. */
  dims: number[];
  type: GgmlType;
  elements: number;
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

export interface GgufFile {
  file: ByteFile;
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
}

const enum VT {
  U8,
  I8,
  U16,
  I16,
  U32,
  I32,
  F32,
  BOOL,
  STRING,
  ARRAY,
  U64,
  I64,
  F64,
}
const SCALAR_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 8 /* string: at least its length */, 12 /* array: at least type + count */, 8, 8, 8];
const MAX_STRING = 64 << 20;
const MAX_DIMS = 4;

/** Sequential reads over a ByteFile with a refillable window, so small fields cost no I/O each. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos = 0;

  constructor(
    readonly file: ByteFile,
    private readonly chunk = 1 << 20,
  ) {}

  get remaining(): number {
    return this.file.size - this.pos;
  }

  fail(problem: string): never {
    throw new FormatError(this.file.name, problem);
  }

  private async need(n: number, what: string): Promise<void> {
    if (n > this.remaining) this.fail(`truncated: ${what} at byte ${this.pos} needs ${n} bytes, ${this.remaining} remain`);
    if (this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(n, this.chunk), this.remaining);
    this.buf = await readRange(this.file, this.pos, len, what);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }

  async u32(what: string): Promise<number> {
    await this.need(4, what);
    const v = this.view.getUint32(this.pos - this.bufStart, true);
    this.pos += 4;
    return v;
  }

  /** A u64 that must fit a safe integer (counts, sizes, offsets). */
  async u64(what: string): Promise<number> {
    await this.need(8, what);
    const v = this.view.getBigUint64(this.pos - this.bufStart, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`absurd ${what} ${v}`);
    return Number(v);
  }

  async bytes(n: number, what: string): Promise<Uint8Array> {
    await this.need(n, what);
    const o = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(o, o + n);
  }

  async string(what: string): Promise<string> {
    const n = await this.u64(`${what} length`);
    if (n > this.remaining || n > MAX_STRING) this.fail(`${what} length ${n} exceeds the ${Math.min(this.remaining, MAX_STRING)} bytes available`);
    return decodeUtf8(await this.bytes(n, what), this.file.name, what);
  }

  /** A string already in the buffer, read without awaiting (the common case in 150k-entry vocab arrays); else null. */
  stringInBuffer(what: string): string | null {
    const o = this.pos - this.bufStart;
    if (o + 8 > this.buf.length) return null;
    const n = this.view.getBigUint64(o, true);
    if (n > BigInt(this.buf.length - o - 8)) return null;
    const len = Number(n);
    const text = decodeUtf8(this.buf.subarray(o + 8, o + 8 + len), this.file.name, what);
    this.pos += 8 + len;
    return text;
  }

  async scalar(type: number, what: string): Promise<number | bigint | boolean> {
    const size = SCALAR_BYTES[type];
    await this.need(size, what);
    const o = this.pos - this.bufStart;
    const v = this.view;
    this.pos += size;
    switch (type) {
      case VT.U8:
        return v.getUint8(o);
      case VT.I8:
        return v.getInt8(o);
      case VT.U16:
        return v.getUint16(o, true);
      case VT.I16:
        return v.getInt16(o, true);
      case VT.U32:
        return v.getUint32(o, true);
      case VT.I32:
        return v.getInt32(o, true);
      case VT.F32:
        return v.getFloat32(o, true);
      case VT.BOOL: {
        const b = v.getUint8(o);
        if (b > 1) this.fail(`${what}: boolean byte ${b}`);
        return b === 1;
      }
      case VT.U64: {
        const x = v.getBigUint64(o, true);
        return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
      }
      case VT.I64: {
        const x = v.getBigInt64(o, true);
        return x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
      }
      case VT.F64:
        return v.getFloat64(o, true);
      default:
        return this.fail(`${what}: unknown value type ${type}`);
    }
  }

  async value(type: number, what: string, depth = 0): Promise<GgufValue> {
    if (type === VT.STRING) return this.string(what);
    if (type !== VT.ARRAY) {
      if (!(type >= 0 && type < SCALAR_BYTES.length)) this.fail(`${what}: unknown value type ${type}`);
      return this.scalar(type, what);
    }
    if (depth >= 2) this.fail(`${what}: arrays nested too deeply`);
    const itemType = await this.u32(`${what} item type`);
    if (!(itemType >= 0 && itemType < SCALAR_BYTES.length)) this.fail(`${what}: unknown array item type ${itemType}`);
    const count = await this.u64(`${what} count`);
    // Every item takes at least SCALAR_BYTES[itemType] bytes: refuse counts the file cannot hold.
    if (count * SCALAR_BYTES[itemType] > this.remaining) this.fail(`${what}: array of ${count} items is larger than the file`);
    if (itemType === VT.F32 || itemType === VT.I32) {
      const raw = await this.bytes(count * 4, what);
      const out = itemType === VT.F32 ? new Float32Array(count) : new Int32Array(count);
      new Uint8Array(out.buffer).set(raw);
      return out;
    }
    const items: GgufValue[] = [];
    for (let i = 0; i < count; i++) {
      const fast = itemType === VT.STRING ? this.stringInBuffer(what) : null;
      items.push(fast ?? (await this.value(itemType, what, depth + 1)));
    }
    return items;
  }
}

/** Reads the header, metadata and tensor table, checking every offset and size against the file. */
export async function readGgufHeader(file: ByteFile): Promise<GgufFile> {
  const c = new Cursor(file);
  const magic = await c.bytes(4, 'magic');
  if (String.fromCharCode(...magic) !== 'GGUF') c.fail('not a GGUF file (bad magic)');
  const version = await c.u32('version');
  if (version === 0x02000000 || version === 0x03000000) c.fail('big-endian GGUF files are not supported');
  if (version !== 2 && version !== 3) c.fail(`unsupported GGUF version ${version} (supported: 2, 3)`);
  const tensorCount = await c.u64('tensor count');
  const kvCount = await c.u64('metadata count');
  // Smallest tensor info: name length (8) + n_dims (4) + type (4) + offset (8); smallest key/value: 8 + 4 + 1.
  if (tensorCount * 24 > c.remaining) c.fail(`tensor count ${tensorCount} is larger than the file can hold`);
  if (kvCount * 13 > c.remaining) c.fail(`metadata count ${kvCount} is larger than the file can hold`);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = await c.string('metadata key');
    if (key.length > 1024) c.fail('metadata key longer than 1024 bytes');
    if (metadata.has(key)) c.fail(`duplicate metadata key ${quote(key)}`);
    const type = await c.u32(`type of ${quote(key)}`);
    metadata.set(key, await c.value(type, quote(key)));
  }

  const infos: Array<Omit<GgufTensorInfo, 'begin' | 'end'> & { offset: number; bytes: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await c.string('tensor name');
    const where = `tensor ${quote(name)}`;
    if (name.length === 0 || name.length > 256) c.fail(`${where}: name must be 1..256 bytes`);
    if (names.has(name)) c.fail(`duplicate ${where}`);
    names.add(name);
    const nDims = await c.u32(`${where} dimension count`);
    if (nDims < 1 || nDims > MAX_DIMS) c.fail(`${where}: ${nDims} dimensions (1..${MAX_DIMS} allowed)`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const n = await c.u64(`${where} dimension`);
      elements *= n;
      if (elements > file.size * 8) c.fail(`${where}: shape is larger than the file`);
      dims.push(n);
    }
    const type = (await c.u32(`${where} type`)) as GgmlType;
    const blk = GGML_BLOCKS[type];
    if (blk === undefined)
      return c.fail(`${where}: unsupported tensor type ${ggmlTypeName(type)} (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)`);
    if (dims[0] % blk.elements !== 0) c.fail(`${where}: row of ${dims[0]} is not a whole number of ${ggmlTypeName(type)} blocks`);
    const offset = await c.u64(`${where} offset`);
    infos.push({ name, dims, type, elements, offset, bytes: (elements / blk.elements) * blk.bytes });
  }

  const rawAlign = metadata.get('general.alignment') ?? 32;
  if (typeof rawAlign !== 'number' || !Number.isInteger(rawAlign) || rawAlign < 1 || rawAlign > 1 << 20 || (rawAlign & (rawAlign - 1)) !== 0) {
    c.fail(`general.alignment ${String(rawAlign)} is not a power of two up to 1 MiB`);
  }
  const alignValue = rawAlign as number;
  const dataStart = Math.ceil(c.pos / alignValue) * alignValue;
  const dataSize = file.size - dataStart;
  const tensors: GgufTensorInfo[] = infos.map((t) => {
    const where = `tensor ${quote(t.name)}`;
    if (t.offset % alignValue !== 0) c.fail(`${where}: offset ${t.offset} is not aligned to ${alignValue}`);
    if (t.offset + t.bytes > dataSize) c.fail(`${where}: bytes ${t.offset}..${t.offset + t.bytes} run past the ${Math.max(0, dataSize)} data bytes`);
    return { name: t.name, dims: t.dims, type: t.type, elements: t.elements, begin: dataStart + t.offset, end: dataStart + t.offset + t.bytes };
  });
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) c.fail(`tensors ${quote(sorted[i - 1].name)} and ${quote(sorted[i].name)} overlap`);
  }
  return { file, version, metadata, tensors: sorted };
}

/** Reads one tensor in slices of whole blocks, dequantizing each into the f32 output. */
export async function readGgufTensor(file: ByteFile, t: GgufTensorInfo, onBytes?: (done: number) => void): Promise<Float32Array> {
  const blk = GGML_BLOCKS[t.type]!;
  const out = new Float32Array(t.elements);
  await readTensorSlices(
    file,
    t.begin,
    t.end - t.begin,
    out,
    { blockBytes: blk.bytes, blockElements: blk.elements },
    (bytes, o) => dequantizeInto(t.type, bytes, o),
    `tensor ${quote(t.name)}`,
    onBytes,
  );
  return out;
}
