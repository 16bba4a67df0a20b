// The safetensors reader: values round-trip in f32/f16/bf16, and every malformed header is one FormatError.
import { describe, expect, it } from 'vitest';
import { FormatError } from '../src/errors.ts';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../src/gpu/float16.ts';
import { encodeSafetensors, readSafetensorsHeader, readSafetensorsTensor, type SafetensorsDtype } from '../src/model/safetensors.ts';
import { memoryFile } from '../src/model/sources/byte-file.ts';

const enc = new TextEncoder();

/** A file with a hand-written header (for malformed cases) followed by `dataBytes` zero bytes. */
function rawFile(header: string | Uint8Array, dataBytes: number, lengthOverride?: number): Uint8Array {
  const h = typeof header === 'string' ? enc.encode(header) : header;
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthOverride ?? h.length), true);
  out.set(h, 8);
  return out;
}

async function parseAll(bytes: Uint8Array, name = 'bad.safetensors'): Promise<void> {
  const file = memoryFile(name, bytes);
  const h = await readSafetensorsHeader(file);
  for (const e of h.entries) await readSafetensorsTensor(file, e);
}

async function expectFormatError(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  const err = await parseAll(bytes).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FormatError);
  expect((err as FormatError).message).toMatch(/^bad\.safetensors: /);
  expect((err as FormatError).message).toMatch(pattern);
  expect((err as FormatError).message).not.toContain('\n');
}

describe('half-precision conversions', () => {
  it('rounds f32 to f16 to nearest even, with subnormals and overflow', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up past the largest finite value
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -26)).toBe(0x0000);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie goes to even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    for (let h = 0; h < 0x7c00; h += 7) expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h);
  });
  it('rounds f32 to bf16 to nearest even', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBf16Bits(-0.5)).toBe(0xbf00);
  });
});

describe('safetensors round trip', () => {
  const values = Float32Array.from({ length: 96 }, (_, i) => Math.sin(i * 0.37) * (1 + i / 10));
  const tolerance: Record<SafetensorsDtype, number> = { F32: 0, F16: 2 ** -11, BF16: 2 ** -8 };
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    it(`${dtype}: values within the dtype's rounding (relative ${tolerance[dtype]})`, async () => {
      const bytes = encodeSafetensors(
        [
          { name: 'a', dtype, shape: [8, 12], values },
          { name: 'b', dtype, shape: [3], values: new Float32Array([1, -2, 0.25]) },
        ],
        { format: 'pt' },
      );
      const file = memoryFile('ok.safetensors', bytes);
      const h = await readSafetensorsHeader(file);
      expect(h.entries.map((e) => e.name)).toEqual(['a', 'b']);
      expect(h.metadata).toEqual({ format: 'pt' });
      const a = await readSafetensorsTensor(file, h.entries[0]);
      for (let i = 0; i < values.length; i++) expect(Math.abs(a[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * tolerance[dtype]);
      expect(Array.from(await readSafetensorsTensor(file, h.entries[1]))).toEqual([1, -2, 0.25]);
    });
  }
});

describe('malformed safetensors', () => {
  const ok = (extra = '') => `{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}${extra}}`;
  it('truncated before the header length', () => expectFormatError(new Uint8Array(5), /too short/));
  it('header length past the end', () => expectFormatError(rawFile(ok(), 16, 1e9), /past the end/));
  it('huge header length (2^63)', async () => {
    const b = rawFile(ok(), 16);
    new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
    await expectFormatError(b, /past the end/);
  });
  it('truncated tensor data', () => expectFormatError(rawFile(ok(), 8), /out of range/));
  it('unknown dtype', () => expectFormatError(rawFile('{"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}', 4), /unknown dtype "Q9"/));
  it('unsupported dtype', () => expectFormatError(rawFile('{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', 8), /unsupported dtype "I64"/));
  it('shape and byte size disagree', () =>
    expectFormatError(rawFile('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}', 16), /needs 12 bytes but data_offsets give 16/));
  it('absurd shape', () => expectFormatError(rawFile('{"w":{"dtype":"F32","shape":[1e15,1e15],"data_offsets":[0,16]}}', 16), /larger than the file/));
  it('negative or fractional dims', () => expectFormatError(rawFile('{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}', 16), /non-negative integers/));
  it('overlapping tensors', () =>
    expectFormatError(rawFile('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', 16), /overlap/));
  it('reversed offsets', () => expectFormatError(rawFile('{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}', 16), /out of range/));
  it('duplicate tensor names', () =>
    expectFormatError(
      rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8),
      /duplicate key "w"/,
    ));
  it('duplicate names spelled with escapes', () =>
    expectFormatError(
      rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\\u0077":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8),
      /duplicate key "w"/,
    ));
  it('invalid UTF-8 in the header', () => {
    const h = enc.encode('{"w\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    h[3] = 0xff;
    return expectFormatError(rawFile(h, 4), /not valid UTF-8/);
  });
  it('deeply nested JSON', () => expectFormatError(rawFile('{"w":' + '['.repeat(10000) + ']'.repeat(10000) + '}', 0), /nested deeper/));
  it('not JSON at all', () => expectFormatError(rawFile('{"w": nope}', 0), /invalid JSON/));
  it('header is an array', () => expectFormatError(rawFile('[1,2]', 0), /not a JSON object/));
  it('bad __metadata__', () => expectFormatError(rawFile('{"__metadata__":{"a":1}}', 0), /__metadata__/));
});
