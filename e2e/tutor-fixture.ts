// The tutor under test: its production build (service worker and precache included) served by
// `vite preview`. Built once per test worker, on demand, so that specs which only need the test-page
// server (gpu-checks, model-cache) never depend on the tutor building.
import { test as base } from '@playwright/test';
import { TUTOR_PORT } from './browser.ts';

export const test = base.extend<object, { tutorURL: string }>({
  tutorURL: [
    // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern
    async ({}, use) => {
      const { build, preview } = await import('vite');
      await build({ configFile: 'vite.config.ts', logLevel: 'warn' });
      const server = await preview({ configFile: 'vite.config.ts', preview: { port: TUTOR_PORT, strictPort: true }, logLevel: 'warn' });
      await use(server.resolvedUrls!.local[0]);
      await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
    },
    { scope: 'worker', timeout: 180_000 },
  ],
  baseURL: async ({ tutorURL }, use) => use(tutorURL),
});

export { expect } from '@playwright/test';
