// Reads one tensor's bytes in slices of whole blocks and decodes each slice straight into the f32
// output: peak memory is the output plus one slice (not the raw bytes plus the output), and download
// progress advances within large tensors (a 1.5B model's embedding is ~470 MB of bf16).
import { readRange, type ByteFile } from './sources/byte-file.ts';

export const SLICE_BYTES = 16 << 20;

export interface SliceLayout {
  /** Bytes and f32 elements of one block (1 element of 2 or 4 bytes for plain floats). */
  blockBytes: number;
  blockElements: number;
}

/**
 * Fills `out` from bytes [begin, begin + byteLength) of `file`. `decode(bytes, out)` converts whole
 * blocks into an output subarray; `onBytes(done)` reports the bytes read so far after each slice but the
 * last (the caller reports the finished tensor).
 */
export async function readTensorSlices(
  file: ByteFile,
  begin: number,
  byteLength: number,
  out: Float32Array,
  layout: SliceLayout,
  decode: (bytes: Uint8Array, out: Float32Array) => void,
  what: string,
  onBytes?: (done: number) => void,
  sliceBytes = SLICE_BYTES,
): Promise<void> {
  const blocksPerSlice = Math.max(1, Math.floor(sliceBytes / layout.blockBytes));
  const step = blocksPerSlice * layout.blockBytes;
  for (let done = 0; done < byteLength; done += step) {
    const n = Math.min(step, byteLength - done);
    const bytes = await readRange(file, begin + done, n, what);
    const first = (done / layout.blockBytes) * layout.blockElements;
    decode(bytes, out.subarray(first, first + (n / layout.blockBytes) * layout.blockElements));
    if (done + n < byteLength) onBytes?.(done + n);
  }
}
