// Browser tests: headless system Chromium with WebGPU on the CPU (see e2e/browser.ts for the route),
// against local servers (http://localhost is a secure context, which WebGPU requires):
//   - the Vite dev server rooted at the repository, for test pages that import engine modules directly
//     (started here, for every spec);
//   - the production build of the tutor PWA under `vite preview`, for the app, its service worker and
//     offline use (built and started by the specs that need it, through e2e/tutor-fixture.ts).
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_ENV, CHROMIUM_PATH, PAGES_PORT, PAGES_URL } from './e2e/browser.ts';

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  outputDir: 'test-results',
  // Two CPU cores and a CPU WebGPU device: one browser at a time.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 20_000 },
  forbidOnly: !!process.env.CI,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    screenshot: 'on',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      env: CHROMIUM_ENV,
    },
  },
  // The tutor's build and preview server start on demand in e2e/tutor-fixture.ts.
  webServer: {
    command: `npx vite --config e2e/vite.pages.config.ts --port ${PAGES_PORT} --strictPort`,
    url: `${PAGES_URL}/e2e/pages/index.html`,
    reuseExistingServer: !process.env.CI,
    timeout: 120_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
