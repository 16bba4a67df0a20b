// The CPU route's kernels (wasm/*.c, built by wasm/build.sh) instantiated over one linear memory, with
// a bump allocator for what the runners keep there: weights, the KV arena and activations. One module
// serves both models of an engine, so their KV regions can share one arena as on the GPU. Nothing is
// freed one by one: memory goes when the module does (an engine's models live as long as it).
import { NoGpuError, OutOfMemoryError } from '../errors.ts';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.ts';

type Ptr = number;

/** The C kernels' signatures (pointers are byte offsets into `memory`). */
export interface KernelExports {
  quantize_q8(x: Ptr, T: number, K: number, q: Ptr, scales: Ptr, order: number): void;
  matmul_q4(y: Ptr, x: Ptr, xs: Ptr, T: number, w: Ptr, ws: Ptr, N: number, K: number): void;
  matmul_q8(y: Ptr, x: Ptr, xs: Ptr, T: number, w: Ptr, ws: Ptr, N: number, K: number): void;
  matmul_f32(y: Ptr, x: Ptr, T: number, w: Ptr, N: number, K: number): void;
  add_bias(y: Ptr, T: number, N: number, bias: Ptr): void;
  add_into(x: Ptr, y: Ptr, n: number): void;
  dequant_row(out: Ptr, w: Ptr, ws: Ptr, format: number, row: number, K: number): void;
  rmsnorm(y: Ptr, x: Ptr, T: number, H: number, weight: Ptr, eps: number): void;
  swiglu(act: Ptr, gate: Ptr, up: Ptr, n: number): void;
  rope_kv(
    qkv: Ptr,
    T: number,
    info: Ptr,
    tables: Ptr,
    table: Ptr,
    kv: Ptr,
    layer: number,
    D: number,
    HQ: number,
    HKV: number,
    pageSize: number,
    pageElems: number,
    f16: number,
  ): void;
  attention(
    out: Ptr,
    qkv: Ptr,
    T: number,
    info: Ptr,
    tables: Ptr,
    kv: Ptr,
    layer: number,
    D: number,
    HQ: number,
    HKV: number,
    pageSize: number,
    pageElems: number,
    f16: number,
    scratch: Ptr,
  ): void;
}

const PAGE = 65536;
/** wasm32 addresses 4 GiB at most. */
const MAX_PAGES = 65536;

export interface WasmKernels {
  readonly memory: WebAssembly.Memory;
  readonly k: KernelExports;
  /** Reserves `bytes` (16-byte aligned), growing the memory; throws OutOfMemoryError past 4 GiB or what the host grants. */
  alloc(bytes: number, label: string): Ptr;
  /** Bytes reserved so far. */
  readonly usedBytes: number;
  f32(ptr: Ptr, length: number): Float32Array;
  i32(ptr: Ptr, length: number): Int32Array;
  u8(ptr: Ptr, length: number): Uint8Array;
}

let compiled: Promise<WebAssembly.Module> | null = null;

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const binary = atob(KERNELS_WASM_BASE64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Whether this JavaScript engine runs WebAssembly with 128-bit SIMD (every current browser and Node >= 16.4). */
export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(moduleBytes());
  } catch {
    return false;
  }
}

export async function createWasmKernels(): Promise<WasmKernels> {
  if (!wasmSimdSupported()) throw new NoGpuError('no WebGPU adapter and no WebAssembly SIMD: this JavaScript engine cannot run the models');
  compiled ??= WebAssembly.compile(moduleBytes());
  const memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES });
  const instance = await WebAssembly.instantiate(await compiled, { env: { memory } });
  const k = instance.exports as unknown as KernelExports;
  let top = (instance.exports.__heap_base as WebAssembly.Global).value as number;
  return {
    memory,
    k,
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
  };
}
