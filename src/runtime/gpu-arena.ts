// The KV arena in GPU memory: one GPUBuffer holding both pools, handed to the two WebGPU runners as
// regions (WebGpuRunnerOptions.kv), with the host-side bookkeeping (KvArena) on top.
//
// How many buffers, and why:
// - One buffer whenever the arena fits the device's maxBufferSize. Both pools then live in the same
//   bytes: the generator's pages from the start upward, the verifier's from the end downward, so a new
//   split only moves a boundary through free pages (no copy, no reallocation).
// - Each runner binds its region as one storage binding, so a region is at most
//   maxStorageBufferBindingSize bytes: the generator's window is the first maxStorageBufferBindingSize
//   bytes, the verifier's the last (offset rounded up to minStorageBufferOffsetAlignment). An arena
//   larger than twice that could never be addressed in full, so it is capped there.
// - Two buffers only when the arena exceeds maxBufferSize: one per pool, sized by the initial split;
//   splits then move only within each buffer (a pool cannot grow past its own buffer).
import { OptionError } from '../errors.ts';
import { kvBytesPerToken, type Qwen2Config } from '../model/config.ts';
import { storageBuffer } from '../gpu/buffers.ts';
import { DEFAULT_KV_DTYPE, kvBytesPerElement, type KvDtype } from '../gpu/kv-dtype.ts';
import type { GpuContext } from '../gpu/device.ts';
import { KvArena, type KvArenaOptions } from './kv-arena.ts';
import type { PageIo } from './kv-offload.ts';
import type { PoolName } from './kv-sequence.ts';

export interface ArenaLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  minStorageBufferOffsetAlignment: number;
}

export interface GpuArenaLayout {
  /** Bytes of each GPUBuffer to create (1 or 2). */
  bufferBytes: number[];
  /** Which buffer holds each pool's region. */
  bufferOf: Record<PoolName, number>;
  arenaOptions: KvArenaOptions;
  /** One line: the choice and why. */
  reason: string;
}

export interface GpuArenaOptions {
  /** Bytes for both pools' K/V (what the memory planner leaves after weights and activations). */
  totalBytes: number;
  pageSize?: number;
  /** K/V storage of both models (default f16): pages of f16 K/V take half the bytes. */
  kvDtype?: KvDtype;
  generator: Qwen2Config;
  verifier: Qwen2Config;
  /** The generator's pages at start (default: half the bytes). */
  generatorPages?: number;
}

/** Decides the buffers and regions for an arena on a device with these limits (pure: testable anywhere). */
export function planGpuArenaLayout(limits: ArenaLimits, o: GpuArenaOptions): GpuArenaLayout {
  const pageSize = o.pageSize ?? 16;
  const bytesPerElement = kvBytesPerElement(o.kvDtype ?? DEFAULT_KV_DTYPE);
  const gpb = pageSize * kvBytesPerToken(o.generator, bytesPerElement);
  const vpb = pageSize * kvBytesPerToken(o.verifier, bytesPerElement);
  const maxBinding = limits.maxStorageBufferBindingSize;
  const align = limits.minStorageBufferOffsetAlignment;
  if (!(o.totalBytes > 0)) throw new OptionError(`KV arena size must be positive, got ${o.totalBytes}`);
  let total = Math.floor(o.totalBytes / 4) * 4;
  let reason: string;
  if (total > 2 * maxBinding) {
    reason = `capped at 2 x maxStorageBufferBindingSize (${2 * maxBinding} bytes): a pool is one binding, the rest could never be addressed; `;
    total = 2 * maxBinding;
  } else reason = '';
  const generatorPages = o.generatorPages ?? Math.floor(total / 2 / gpb);
  if (total <= limits.maxBufferSize) {
    reason += `one buffer of ${total} bytes (<= maxBufferSize ${limits.maxBufferSize}); each pool binds at most ${Math.min(total, maxBinding)} bytes (maxStorageBufferBindingSize), generator from the start, verifier from the end`;
    return {
      bufferBytes: [total],
      bufferOf: { generator: 0, verifier: 0 },
      arenaOptions: {
        totalBytes: total,
        pageSize,
        generatorPageBytes: gpb,
        verifierPageBytes: vpb,
        generatorPages,
        maxRegionBytes: maxBinding,
        offsetAlignment: align,
      },
      reason,
    };
  }
  // Two buffers: the generator's sized by the initial split, within both limits.
  const cap = Math.min(limits.maxBufferSize, maxBinding);
  const gBytes = Math.max(total - cap, Math.min(cap, generatorPages * gpb));
  if (total - gBytes > cap) throw new OptionError(`KV arena of ${total} bytes does not fit two buffers of at most ${cap} bytes`);
  reason += `two buffers (${gBytes} + ${total - gBytes} bytes): the arena exceeds maxBufferSize ${limits.maxBufferSize}; a pool cannot grow past its buffer`;
  return {
    bufferBytes: [gBytes, total - gBytes],
    bufferOf: { generator: 0, verifier: 1 },
    arenaOptions: {
      totalBytes: total,
      pageSize,
      generatorPageBytes: gpb,
      verifierPageBytes: vpb,
      generatorPages,
      maxRegionBytes: cap,
      offsetAlignment: align,
      separateGeneratorBytes: gBytes,
    },
    reason,
  };
}

export interface GpuKvArena {
  readonly arena: KvArena;
  readonly buffers: GPUBuffer[];
  readonly layout: GpuArenaLayout;
  /** The region to pass as WebGpuRunnerOptions.kv for this pool's model. */
  region(name: PoolName): { buffer: GPUBuffer; offsetBytes: number; numPages: number };
  /** Host <-> GPU page transfers for offload mode (KvArena.activate / share). */
  readonly pageIo: Record<PoolName, PageIo>;
  destroy(): void;
}

/** Creates the arena's buffer(s) on the device and the bookkeeping over them. */
export function createGpuKvArena(gpu: GpuContext, options: GpuArenaOptions): GpuKvArena {
  const layout = planGpuArenaLayout(gpu.limits, options);
  const device = gpu.device;
  const buffers = layout.bufferBytes.map((bytes, i) => storageBuffer(device, bytes, `kv-arena-${i}`));
  const arena = new KvArena(layout.arenaOptions);
  const region = (name: PoolName) => {
    const r = arena.region(name);
    return { buffer: buffers[layout.bufferOf[name]], offsetBytes: r.offsetBytes, numPages: r.numPages };
  };
  const pageIoFor = (name: PoolName): PageIo => {
    const { buffer, offsetBytes } = region(name);
    const pageBytes = arena.region(name).pageBytes;
    return {
      async readPages(pages) {
        gpu.assertAlive();
        const staging = device.createBuffer({ size: Math.max(4, pages.length * pageBytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        try {
          const encoder = device.createCommandEncoder();
          pages.forEach((p, i) => encoder.copyBufferToBuffer(buffer, offsetBytes + p * pageBytes, staging, i * pageBytes, pageBytes));
          device.queue.submit([encoder.finish()]);
          await staging.mapAsync(GPUMapMode.READ);
          return new Uint8Array(staging.getMappedRange().slice(0));
        } finally {
          staging.destroy();
        }
      },
      async writePages(pages, data) {
        gpu.assertAlive();
        pages.forEach((p, i) =>
          device.queue.writeBuffer(buffer, offsetBytes + p * pageBytes, data.buffer as ArrayBuffer, data.byteOffset + i * pageBytes, pageBytes),
        );
        await device.queue.onSubmittedWorkDone();
        gpu.assertAlive();
      },
    };
  };
  const pageIo = { generator: pageIoFor('generator'), verifier: pageIoFor('verifier') };
  // Offload mode (KvArena.activate) moves a pool's pages through these by default.
  arena.generator.attachIo(pageIo.generator);
  arena.verifier.attachIo(pageIo.verifier);
  return {
    arena,
    buffers,
    layout,
    region,
    pageIo,
    destroy() {
      for (const b of buffers) b.destroy();
    },
  };
}
