// Helper threads for the CPU route: each runs its own instance of the kernels' module over the same
// shared memory and takes a slice of a matrix's rows when the main thread asks (a control block in that
// memory, Atomics.wait/notify). Splitting rows changes no output's arithmetic (wasm/matmul.c writes
// with a row stride), so results stay bitwise those of one thread. Small products stay on the calling
// thread: waking a helper costs tens of microseconds.
import type { KernelExports } from './kernel-exports.ts';
import { inNode } from '../platform.ts';

/** Products below this many multiply-adds run on the calling thread alone. */
const PARALLEL_MIN_MACS = 1 << 21;
const HELPER_TIMEOUT_MS = 60_000;
/** Bytes of each helper's stack. */
export const HELPER_STACK_BYTES = 1 << 16;
const FUNCTIONS = ['matmul_q4', 'matmul_q8', 'matmul_f32', 'matmul_f16', 'matmul_bf16'] as const;
type MatmulName = (typeof FUNCTIONS)[number];
/** The products of unquantized weights: no activation scales, so one argument fewer. */
const isFloat = (name: MatmulName): name is 'matmul_f32' | 'matmul_f16' | 'matmul_bf16' => name !== 'matmul_q4' && name !== 'matmul_q8';
/** Control block: [0] job number (-1: stop), [1] helpers done, then ARGS_STRIDE ints per helper. */
export const CONTROL_INTS = 8 + 8 * 12;
const ARGS_STRIDE = 12;

// The helper's program, the same in Node (worker_threads, evaluated as a script) and in a browser
// (a classic worker from a Blob URL).
const HELPER_SOURCE = `
const start = ({ module, memory, control, stackTop, index }) => {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  instance.exports.__stack_pointer.value = stackTop;
  const ctl = new Int32Array(memory.buffer, control, ${CONTROL_INTS});
  const fns = ${JSON.stringify(FUNCTIONS)}.map((name) => instance.exports[name]);
  const base = 8 + index * ${ARGS_STRIDE};
  let seen = 0;
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    if (seen < 0) return;
    const argc = ctl[base + 1];
    if (argc > 0) fns[ctl[base]](...Array.from(ctl.subarray(base + 2, base + 2 + argc)));
    Atomics.add(ctl, 1, 1);
    Atomics.notify(ctl, 1);
  }
};
`;

interface HelperHandle {
  post(message: unknown): void;
  terminate(): void;
}

async function spawnHelper(): Promise<HelperHandle> {
  if (inNode()) {
    // A computed specifier keeps bundlers from resolving the Node module for the browser.
    const { Worker } = (await import(/* @vite-ignore */ `node:${'worker_threads'}`)) as typeof import('node:worker_threads');
    // import(), not require(): the script may be evaluated as a module (a "type": "module" package, loader hooks).
    const worker = new Worker(`${HELPER_SOURCE}\nimport('node:worker_threads').then((w) => w.parentPort.once('message', start));`, { eval: true });
    worker.unref(); // a helper never keeps Node alive
    return { post: (m) => worker.postMessage(m), terminate: () => void worker.terminate() };
  }
  const url = URL.createObjectURL(new Blob([`${HELPER_SOURCE}\nself.onmessage = (e) => start(e.data);`], { type: 'text/javascript' }));
  const worker = new Worker(url, { name: 'fasttts-cpu-helper' });
  URL.revokeObjectURL(url);
  return { post: (m) => worker.postMessage(m), terminate: () => worker.terminate() };
}

export interface ThreadPool {
  /** Threads computing a large product, the calling one included. */
  readonly threads: number;
  /** Products split over the threads so far. */
  readonly parallelCalls: number;
  /** y[T, N] (row stride N) = x W^T with `name`'s kernel, W's rows split over the threads when large. */
  matmul(
    name: MatmulName,
    m: { rows: number; cols: number; data: number; scales: number; rowBytes: number },
    y: number,
    x: number,
    xs: number,
    T: number,
  ): void;
  stop(): void;
}

/** Where a product runs on one thread: the kernels' own export. */
export function singleThread(k: KernelExports): ThreadPool {
  return {
    threads: 1,
    parallelCalls: 0,
    matmul(name, m, y, x, xs, T) {
      if (isFloat(name)) k[name](y, m.rows, x, T, m.data, m.rows, m.cols);
      else k[name](y, m.rows, x, xs, T, m.data, m.scales, m.rows, m.cols);
    },
    stop() {},
  };
}

/**
 * Starts `helpers` threads on `module` over `memory` (shared). `control` and `stacks` are reserved
 * bytes of that memory: CONTROL_INTS ints, and HELPER_STACK_BYTES per helper.
 */
export async function startThreadPool(
  k: KernelExports,
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  control: number,
  stacks: number,
  helpers: number,
): Promise<ThreadPool> {
  const handles = await Promise.all(Array.from({ length: helpers }, () => spawnHelper()));
  handles.forEach((h, index) => h.post({ module, memory, control, stackTop: stacks + (index + 1) * HELPER_STACK_BYTES, index }));
  const ctl = new Int32Array(memory.buffer, control, CONTROL_INTS);
  const single = singleThread(k);
  const threads = helpers + 1;
  // Atomics.wait is not allowed on a page's main thread: there the wait spins.
  let canBlock = true;
  // A helper that never answers (it crashed) would hang the engine: after a minute without progress the
  // product fails instead.
  const waitDone = () => {
    let last = performance.now();
    for (let done = Atomics.load(ctl, 1), seen = done; done < helpers; done = Atomics.load(ctl, 1)) {
      if (done !== seen) [seen, last] = [done, performance.now()];
      else if (performance.now() - last > HELPER_TIMEOUT_MS) {
        stopAll(); // later products run on the calling thread alone
        throw new Error('a CPU-route helper thread stopped answering');
      }
      if (!canBlock) continue;
      try {
        Atomics.wait(ctl, 1, done, 1000);
      } catch {
        canBlock = false;
      }
    }
  };
  let stopped = false;
  let parallelCalls = 0;
  function stopAll(): void {
    if (stopped) return;
    stopped = true;
    Atomics.store(ctl, 0, -1);
    Atomics.notify(ctl, 0);
    for (const h of handles) h.terminate();
  }
  return {
    threads,
    get parallelCalls() {
      return parallelCalls;
    },
    matmul(name, m, y, x, xs, T) {
      if (stopped || m.rows * m.cols * T < PARALLEL_MIN_MACS || m.rows < 4 * threads) return single.matmul(name, m, y, x, xs, T);
      parallelCalls++;
      const per = Math.ceil(m.rows / threads);
      const G = m.cols / 32;
      const slice = (i: number) => {
        const r0 = Math.min(m.rows, i * per);
        const r1 = Math.min(m.rows, r0 + per);
        const w = m.data + r0 * m.rowBytes;
        const args = isFloat(name) ? [y + r0 * 4, m.rows, x, T, w, r1 - r0, m.cols] : [y + r0 * 4, m.rows, x, xs, T, w, m.scales + r0 * G * 4, r1 - r0, m.cols];
        return { rows: r1 - r0, args };
      };
      Atomics.store(ctl, 1, 0);
      for (let h = 0; h < helpers; h++) {
        const { rows, args } = slice(h + 1);
        const base = 8 + h * ARGS_STRIDE;
        ctl[base] = FUNCTIONS.indexOf(name);
        ctl[base + 1] = rows > 0 ? args.length : 0;
        ctl.set(args, base + 2);
      }
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      const own = slice(0);
      (k[name] as (...a: number[]) => void)(...own.args);
      waitDone();
    },
    stop: stopAll,
  };
}
