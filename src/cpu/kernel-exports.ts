// The C kernels' exports (wasm/*.c) as TypeScript sees them: pointers are byte offsets into the module's memory.
type Ptr = number;

export interface KernelExports {
  quantize_q8(x: Ptr, T: number, K: number, q: Ptr, scales: Ptr, order: number): void;
  /** y has a row stride of ldy floats (a thread's slice of rows writes its columns of the whole output). */
  matmul_q4(y: Ptr, ldy: number, x: Ptr, xs: Ptr, T: number, w: Ptr, ws: Ptr, N: number, K: number): void;
  matmul_q8(y: Ptr, ldy: number, x: Ptr, xs: Ptr, T: number, w: Ptr, ws: Ptr, N: number, K: number): void;
  matmul_f32(y: Ptr, ldy: number, x: Ptr, T: number, w: Ptr, N: number, K: number): void;
  /** As matmul_f32, with the weights in f16 or bf16 (two per word). */
  matmul_f16(y: Ptr, ldy: number, x: Ptr, T: number, w: Ptr, N: number, K: number): void;
  matmul_bf16(y: Ptr, ldy: number, x: Ptr, T: number, w: Ptr, N: number, K: number): void;
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
