// The CPU route's kernels (wasm/*.c, built by wasm/build.sh) instantiated over one linear memory, with
// a bump allocator for what the runners keep there: weights, the KV arena and activations. One module
// serves both models of an engine, so their KV regions can share one arena as on the GPU. Nothing is
// freed one by one: memory goes when the module does (an engine's models live as long as it). With
// several threads the memory is shared and helper threads take slices of large products (threads.ts).
import { NoGpuError, OptionError, OutOfMemoryError } from '../errors.ts';
import { inNode } from '../platform.ts';
import {
  KERNELS_SHARED_RELAXED_WASM_BASE64,
  KERNELS_SHARED_WASM_BASE64,
  KERNELS_SINGLE_RELAXED_WASM_BASE64,
  KERNELS_SINGLE_WASM_BASE64,
} from './kernels-wasm.ts';
import type { KernelExports } from './kernel-exports.ts';
import { CONTROL_INTS, HELPER_STACK_BYTES, singleThread, startThreadPool, type ThreadPool } from './threads.ts';

export type { KernelExports } from './kernel-exports.ts';

type Ptr = number;

const PAGE = 65536;
/** wasm32 addresses 4 GiB at most. */
const MAX_PAGES = 65536;

export interface WasmKernels {
  readonly memory: WebAssembly.Memory;
  readonly k: KernelExports;
  /** Large matrix products, split over the threads (one, unless asked for more and memory can be shared). */
  readonly pool: ThreadPool;
  /** Whether this is the relaxed-SIMD build (its 8-bit dot for q4; the same results as the other). */
  readonly relaxed: boolean;
  /** Reserves `bytes` (16-byte aligned), growing the memory; throws OutOfMemoryError past 4 GiB or what the host grants. */
  alloc(bytes: number, label: string): Ptr;
  /** Bytes reserved so far. */
  readonly usedBytes: number;
  f32(ptr: Ptr, length: number): Float32Array;
  i32(ptr: Ptr, length: number): Int32Array;
  u8(ptr: Ptr, length: number): Uint8Array;
  /** Stops the helper threads. */
  dispose(): void;
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

function moduleBytes(base64 = KERNELS_SINGLE_WASM_BASE64): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Whether this JavaScript engine runs WebAssembly with 128-bit SIMD (every current browser and Node >= 16.4). */
let simd: boolean | null = null;

export function wasmSimdSupported(): boolean {
  if (simd === null) {
    try {
      simd = typeof WebAssembly === 'object' && WebAssembly.validate(moduleBytes());
    } catch {
      simd = false;
    }
  }
  return simd;
}

/** Whether the relaxed-SIMD build runs here and gives the plain build's results (checked once). */
let relaxedWorks: Promise<boolean> | null = null;

export function relaxedSimdWorks(): Promise<boolean> {
  relaxedWorks ??= (async () => {
    try {
      const bytes = moduleBytes(KERNELS_SINGLE_RELAXED_WASM_BASE64);
      // Node 20 (V8 11.3) has relaxed SIMD behind a flag (on by default from Node 22, and in browsers).
      if (!WebAssembly.validate(bytes) && inNode()) {
        const v8 = (await import(/* @vite-ignore */ `node:${'v8'}`)) as typeof import('node:v8');
        v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
      }
      if (!WebAssembly.validate(bytes)) return false;
      return await sameProduct(bytes, moduleBytes(KERNELS_SINGLE_WASM_BASE64));
    } catch {
      return false;
    }
  })();
  return relaxedWorks;
}

/** Whether two builds give bitwise the same q4 product on a small case (tiles and remainders; activations
 *  with the 8-bit extremes), so that an engine whose relaxed dot is wrong keeps the plain build. */
async function sameProduct(a: Uint8Array<ArrayBuffer>, b: Uint8Array<ArrayBuffer>): Promise<boolean> {
  const [T, N, K] = [6, 6, 64];
  const results = await Promise.all(
    [a, b].map(async (bytes) => {
      const memory = new WebAssembly.Memory({ initial: 2 });
      const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
      const k = instance.exports as unknown as KernelExports;
      const base = (instance.exports.__heap_base as WebAssembly.Global).value as number;
      const [x, q, xs, w, ws, y] = [base, base + 4096, base + 8192, base + 12288, base + 16384, base + 20480];
      const f = new Float32Array(memory.buffer);
      for (let i = 0; i < T * K; i++) f[x / 4 + i] = ((i * 37) % 255) - 127 + (i % 3) / 3;
      const bytesW = new Uint8Array(memory.buffer, w, (N * K) / 2);
      for (let i = 0; i < bytesW.length; i++) bytesW[i] = (i * 73 + 11) & 0xff;
      for (let i = 0; i < (N * K) / 32; i++) f[ws / 4 + i] = 0.01 * (i + 1);
      k.quantize_q8(x, T, K, q, xs, 1);
      k.matmul_q4(y, N, q, xs, T, w, ws, N, K);
      return Array.from(new Uint32Array(memory.buffer, y, T * N));
    }),
  );
  return results[0].every((v, i) => v === results[1][i]);
}

/** Threads this machine offers (capped at 8), the default of the engine's CPU route. */
export async function availableThreads(): Promise<number> {
  let n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  if (n === undefined && inNode()) {
    const os = (await import(/* @vite-ignore */ `node:${'os'}`)) as typeof import('node:os');
    n = os.availableParallelism?.() ?? os.cpus().length;
  }
  return Math.max(1, Math.min(8, n ?? 1));
}

/** Whether a WebAssembly memory can be shared with other threads here (Node; cross-origin isolated pages). */
function canShareMemory(): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

function compile(base64: string): Promise<WebAssembly.Module> {
  let m = compiled.get(base64);
  if (!m) compiled.set(base64, (m = WebAssembly.compile(moduleBytes(base64))));
  return m;
}

/**
 * `threads`: how many threads large products use (default 1); more only where memory can be shared.
 * `relaxed`: use the relaxed-SIMD build where it works (default true; false: the plain build).
 */
export async function createWasmKernels(options: { threads?: number; relaxed?: boolean } = {}): Promise<WasmKernels> {
  if (!wasmSimdSupported()) throw new NoGpuError('no WebGPU adapter and no WebAssembly SIMD: this JavaScript engine cannot run the models');
  const wanted = options.threads ?? 1;
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > 64) throw new OptionError(`threads must be an integer in 1..64, got ${wanted}`);
  const shared = wanted > 1 && canShareMemory();
  const relaxed = options.relaxed !== false && (await relaxedSimdWorks());
  const module = await compile(
    relaxed
      ? shared
        ? KERNELS_SHARED_RELAXED_WASM_BASE64
        : KERNELS_SINGLE_RELAXED_WASM_BASE64
      : shared
        ? KERNELS_SHARED_WASM_BASE64
        : KERNELS_SINGLE_WASM_BASE64,
  );
  const memory = new WebAssembly.Memory(shared ? { initial: 2, maximum: MAX_PAGES, shared: true } : { initial: 2, maximum: MAX_PAGES });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const k = instance.exports as unknown as KernelExports;
  let top = (instance.exports.__heap_base as WebAssembly.Global).value as number;
  let pool = singleThread(k);
  const kernels: WasmKernels = {
    memory,
    k,
    relaxed,
    get pool() {
      return pool;
    },
    get usedBytes() {
      return top;
    },
    alloc(bytes: number, label: string): Ptr {
      const at = Math.ceil(top / 16) * 16;
      const end = at + Math.max(0, bytes);
      const have = memory.buffer.byteLength;
      if (end > have) {
        const pages = Math.ceil((end - have) / PAGE);
        if (have / PAGE + pages > MAX_PAGES)
          throw new OutOfMemoryError(`${label}: the CPU route's memory would reach ${(end / 2 ** 30).toFixed(2)} GiB, past WebAssembly's 4 GiB`);
        try {
          memory.grow(pages);
        } catch {
          throw new OutOfMemoryError(`${label}: the JavaScript engine refused to grow WebAssembly memory to ${(end / 2 ** 20).toFixed(0)} MiB`);
        }
      }
      top = end;
      return at;
    },
    // Views are made on each call: growing the memory detaches the old buffer.
    f32: (ptr, length) => new Float32Array(memory.buffer, ptr, length),
    i32: (ptr, length) => new Int32Array(memory.buffer, ptr, length),
    u8: (ptr, length) => new Uint8Array(memory.buffer, ptr, length),
    dispose: () => pool.stop(),
  };
  if (shared) {
    const control = kernels.alloc(CONTROL_INTS * 4, 'thread control');
    const stacks = kernels.alloc((wanted - 1) * HELPER_STACK_BYTES, 'thread stacks');
    pool = await startThreadPool(k, module, memory, control, stacks, wanted - 1);
  }
  return kernels;
}
