// The KV arena on the CPU route: one byte range of the WebAssembly kernels' memory holding both pools
// (the same KvArena bookkeeping as the GPU arena in gpu-arena.ts: generator pages from the start,
// verifier pages from the end), handed to the two WasmRunners as regions. Offload mode's host copies
// are plain byte copies out of and into that memory.
import { kvBytesPerToken } from '../model/config.ts';
import { DEFAULT_KV_DTYPE, kvBytesPerElement } from '../gpu/kv-dtype.ts';
import type { WasmKernels } from '../cpu/wasm-module.ts';
import type { GpuArenaOptions } from './gpu-arena.ts';
import { KvArena } from './kv-arena.ts';
import type { PageIo } from './kv-offload.ts';
import type { PoolName } from './kv-sequence.ts';

export interface WasmKvArena {
  readonly arena: KvArena;
  /** The region to pass as WasmRunnerOptions.kv for this pool's model. */
  region(name: PoolName): { offsetBytes: number; numPages: number };
  destroy(): void;
}

export function createWasmKvArena(kernels: WasmKernels, o: GpuArenaOptions): WasmKvArena {
  const pageSize = o.pageSize ?? 16;
  const bytesPerElement = kvBytesPerElement(o.kvDtype ?? DEFAULT_KV_DTYPE);
  const generatorPageBytes = pageSize * kvBytesPerToken(o.generator, bytesPerElement);
  const totalBytes = Math.floor(o.totalBytes / 16) * 16;
  const arena = new KvArena({
    totalBytes,
    pageSize,
    generatorPageBytes,
    verifierPageBytes: pageSize * kvBytesPerToken(o.verifier, bytesPerElement),
    generatorPages: o.generatorPages ?? Math.floor(totalBytes / 2 / generatorPageBytes),
    offsetAlignment: 16,
  });
  const base = kernels.alloc(totalBytes, 'KV arena');
  const region = (name: PoolName) => {
    const r = arena.region(name);
    return { offsetBytes: base + r.offsetBytes, numPages: r.numPages };
  };
  const pageIoFor = (name: PoolName): PageIo => {
    const { offsetBytes } = region(name);
    const pageBytes = arena.region(name).pageBytes;
    return {
      async readPages(pages) {
        const out = new Uint8Array(pages.length * pageBytes);
        pages.forEach((p, i) => out.set(kernels.u8(offsetBytes + p * pageBytes, pageBytes), i * pageBytes));
        return out;
      },
      async writePages(pages, data) {
        pages.forEach((p, i) => kernels.u8(offsetBytes + p * pageBytes, pageBytes).set(data.subarray(i * pageBytes, (i + 1) * pageBytes)));
      },
    };
  };
  arena.generator.attachIo(pageIoFor('generator'));
  arena.verifier.attachIo(pageIoFor('verifier'));
  return { arena, region, destroy() {} };
}
