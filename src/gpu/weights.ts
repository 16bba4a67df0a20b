// A packed weight matrix on the GPU, split by rows into parts that each fit one storage binding
// (maxStorageBufferBindingSize: 128 MiB on llvmpipe, so a 1.5B model's tied embedding needs parts).
// Written row block by row block as tensors stream in (fused q/k/v and gate/up are row blocks of one matrix).
import { isQuantized, packScalesF16, scaleWordsPerRow, wordsPerRow, type PackedMatrix, type WeightFormat } from './quant.ts';
import { storageBuffer, writeArray } from './buffers.ts';

export interface MatrixPart {
  rowStart: number;
  rows: number;
  data: GPUBuffer;
  /** Per-group scales (q8/q4) as halves, two per word, rows padded to a word; a 16-byte placeholder for the float formats. */
  scales: GPUBuffer;
}

export interface GpuMatrix {
  format: WeightFormat;
  rows: number;
  cols: number;
  parts: MatrixPart[];
  bytes: number;
}

export function createGpuMatrix(device: GPUDevice, format: WeightFormat, rows: number, cols: number, maxPartBytes: number, label: string): GpuMatrix {
  const rowBytes = wordsPerRow(format, cols) * 4;
  const rowsPerPart = Math.max(1, Math.floor(maxPartBytes / rowBytes));
  const parts: MatrixPart[] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerPart) {
    const n = Math.min(rowsPerPart, rows - rowStart);
    parts.push({
      rowStart,
      rows: n,
      data: storageBuffer(device, n * rowBytes, `${label}[${rowStart}]`),
      scales: storageBuffer(device, !isQuantized(format) ? 16 : Math.max(16, n * scaleWordsPerRow(cols) * 4), `${label}.scales[${rowStart}]`),
    });
  }
  const bytes = rows * rowBytes + (!isQuantized(format) ? 0 : rows * scaleWordsPerRow(cols) * 4);
  return { format, rows, cols, parts, bytes };
}

/** Uploads `packed` (same format and cols) as rows rowStart .. rowStart + packed.rows - 1 of `m`. */
export function writeMatrixRows(device: GPUDevice, m: GpuMatrix, rowStart: number, packed: PackedMatrix): void {
  if (packed.format !== m.format || packed.cols !== m.cols || rowStart + packed.rows > m.rows) {
    throw new RangeError(`writeMatrixRows: ${packed.rows}x${packed.cols} ${packed.format} at row ${rowStart} into ${m.rows}x${m.cols} ${m.format}`);
  }
  const words = wordsPerRow(m.format, m.cols);
  const scaleWords = scaleWordsPerRow(m.cols);
  const scales = !isQuantized(m.format) ? null : packScalesF16(packed.scales, packed.rows, packed.cols);
  for (const part of m.parts) {
    const from = Math.max(rowStart, part.rowStart);
    const to = Math.min(rowStart + packed.rows, part.rowStart + part.rows);
    if (from >= to) continue;
    const src = from - rowStart;
    writeArray(device, part.data, (from - part.rowStart) * words * 4, packed.data, src * words, (to - from) * words);
    if (scales) writeArray(device, part.scales, (from - part.rowStart) * scaleWords * 4, scales, src * scaleWords, (to - from) * scaleWords);
  }
}

export function destroyGpuMatrix(m: GpuMatrix): void {
  for (const p of m.parts) {
    p.data.destroy();
    p.scales.destroy();
  }
}
