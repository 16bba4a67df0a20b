// What a model loader hands to a runner: the config and a stream of tensors, one at a time, so that a
// large model never sits whole in JavaScript memory. Loaders (safetensors, GGUF, random fixtures)
// produce it; the WebGPU runner packs/quantizes each tensor and uploads it before asking for the next.
import type { Qwen2Config } from './config.ts';
import { unpackMatrix, type PackedMatrix, type WeightFormat } from '../gpu/quant.ts';

export interface TensorRecord {
  /** Hugging Face tensor name, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  name: string;
  /** Row-major shape, e.g. [out_features, in_features] for a Linear weight. */
  shape: number[];
  /** The values in f32 (bf16/f16/quantized sources are converted by the loader; with `packed`, on first use). */
  values: Float32Array;
  /** A matrix stored in the file in one of the engine's weight formats exactly (F16/BF16 halves as they
   *  are; GGUF Q8_0 is q8, Q4_0 is q4, each block's f16 scale widened): a runner using that format
   *  copies it instead of converting `values` again, which would take per-element work and lose the
   *  file's own rounding. */
  packed?: PackedMatrix;
}

/** A record of a packed matrix whose f32 values are made only if asked for. */
export function packedRecord(name: string, shape: number[], packed: PackedMatrix): TensorRecord {
  let values: Float32Array | null = null;
  return {
    name,
    shape,
    packed,
    get values() {
      values ??= unpackMatrix(packed);
      return values;
    },
  };
}

/** The format shared by every matrix of the model's layers (`formats`: one per tensor, undefined where
 *  the engine cannot run its type exactly), or undefined. */
export function storedFormatOf(tensors: Array<{ name: string; shape: number[]; format: WeightFormat | undefined }>): WeightFormat | undefined {
  const layerMatrices = tensors.filter((t) => t.shape.length === 2 && t.name.startsWith('model.layers.'));
  const first = layerMatrices[0]?.format;
  return layerMatrices.every((t) => t.format === first) ? first : undefined;
}

export interface LoadProgress {
  phase: 'download' | 'parse' | 'quantize' | 'upload' | 'done';
  bytesDone: number;
  bytesTotal: number;
  tensorsDone: number;
  tensorsTotal: number;
}

export interface ModelSource {
  /** Where the model came from (a path, URL or label), for messages. */
  name: string;
  config: Qwen2Config;
  /** The weight format the layers' matrices are stored in, where the engine runs it exactly (so a
   *  runner in that format keeps the file's values); undefined when they differ or need converting. */
  storedFormat?: WeightFormat;
  /** Streams every tensor the config expects, each exactly once, in any order. */
  tensors(onProgress?: (p: LoadProgress) => void): AsyncIterable<TensorRecord>;
}

/**
 * A loader's tensor stream: each item read in turn (`read` reports the bytes it has read so far), with
 * progress after every tensor and during each read, counted in the items' bytes and in tensors.
 */
export async function* streamTensors<T>(
  items: readonly T[],
  o: {
    phase: LoadProgress['phase'];
    bytesTotal: number;
    tensorsTotal: number;
    bytesOf: (item: T) => number;
    read: (item: T, onBytes: (n: number) => void) => Promise<TensorRecord>;
  },
  progress?: (p: LoadProgress) => void,
): AsyncIterable<TensorRecord> {
  const { phase, bytesTotal, tensorsTotal } = o;
  let bytesDone = 0;
  let tensorsDone = 0;
  for (const item of items) {
    const record = await o.read(item, (n) => progress?.({ phase, bytesDone: bytesDone + n, bytesTotal, tensorsDone, tensorsTotal }));
    bytesDone += o.bytesOf(item);
    tensorsDone++;
    progress?.({ phase, bytesDone, bytesTotal, tensorsDone, tensorsTotal });
    yield record;
  }
}
