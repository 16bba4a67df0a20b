// The committed CPU-route module (src/cpu/kernels-wasm.ts) is the build of the committed C sources
// (wasm/*.c): rebuilt here with clang and lld (installed by tools/setup-system.sh) and compared byte
// for byte, so the binary can never drift from the code the kernel tests read.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';

test('wasm/build.sh reproduces src/cpu/kernels-wasm.ts byte for byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fasttts-wasm-'));
  try {
    const out = join(dir, 'kernels-wasm.ts');
    execFileSync('sh', ['wasm/build.sh', out], { stdio: 'pipe' });
    expect(readFileSync(out, 'utf8')).toBe(readFileSync('src/cpu/kernels-wasm.ts', 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
