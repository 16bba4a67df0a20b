// The KV cache of both models in one GPU buffer: the generator's pages from the start upward, the
// verifier's from the end downward, split in half by bytes. Each pool's page ids stay inside its own
// byte range for the whole call, so no page of one model can ever overlap a page of the other.
// (The search's pools do not move live pages, so the split is not resized while a search runs.)
import { OutOfMemoryError } from '../errors.ts';
import type { GpuContext } from '../gpu/device.ts';
import { storageBuffer } from '../gpu/buffers.ts';

export interface KvRegionSpec {
  buffer: GPUBuffer;
  offsetBytes: number;
  numPages: number;
}

export interface KvSplit {
  buffer: GPUBuffer;
  generator: KvRegionSpec;
  verifier: KvRegionSpec;
  destroy(): void;
}

export function createKvSplit(gpu: GpuContext, totalBytes: number, generatorPageBytes: number, verifierPageBytes: number): KvSplit {
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const maxBinding = gpu.limits.maxStorageBufferBindingSize;
  const total = Math.floor(Math.min(totalBytes, gpu.limits.maxBufferSize, 2 * maxBinding) / align) * align;
  const half = Math.min(total / 2, maxBinding);
  const generatorPages = Math.floor(half / generatorPageBytes);
  const verifierOffset = Math.ceil(Math.max(generatorPages * generatorPageBytes, total - half) / align) * align;
  const verifierPages = Math.floor(Math.min(total - verifierOffset, maxBinding) / verifierPageBytes);
  if (generatorPages < 1 || verifierPages < 1) throw new OutOfMemoryError(`KV cache of ${total} bytes holds no page for one of the models`);
  const buffer = storageBuffer(gpu.device, total, 'kv-cache');
  return {
    buffer,
    generator: { buffer, offsetBytes: 0, numPages: generatorPages },
    verifier: { buffer, offsetBytes: verifierOffset, numPages: verifierPages },
    destroy: () => buffer.destroy(),
  };
}
