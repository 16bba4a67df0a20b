import { defineConfig } from 'vitest/config';

// WebGPU tests share one llvmpipe device per worker; the CPU route is slow, so allow long tests
// and run files one after another (two cores, and Dawn adapters are not cheap to create).
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
