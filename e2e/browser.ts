// How the tests launch Chromium with WebGPU on a machine without a GPU, and where the test servers listen.
// Shared by playwright.config.ts and the browser benchmark (e2e/bench-browser.mjs mirrors these flags).
//
// Measured on the 2-core CI machine (Chromium 156, 4096x4096 f32 matrix-vector product, median of 8):
//   ANGLE over Mesa EGL (llvmpipe), requestAdapter({ featureLevel: 'compatibility' })  ~10-15 ms
//   SwiftShader Vulkan, requestAdapter() (core)                                          ~33 ms
// Both adapters are offered by the one launch below: the engine asks for a compatibility adapter first
// and falls back to a core one, so a machine without Mesa's EGL still gets SwiftShader.

export const CHROMIUM_PATH = process.env.FASTTTS_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  // Root in containers: Chromium's sandbox needs user namespaces we do not have.
  '--no-sandbox',
  // The network is closed: no update checks, no sync, no first-run UI.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // WebGPU on CPU: compatibility adapter on ANGLE/GL-ES/EGL (Mesa llvmpipe), core adapter on SwiftShader Vulkan.
  '--enable-unsafe-webgpu',
  '--use-gl=angle',
  '--use-angle=gl-egl',
  '--use-webgpu-adapter=opengles',
  '--enable-features=Vulkan',
];

/** Environment for the browser process: Mesa's EGL without a display. */
export const CHROMIUM_ENV = { ...process.env, EGL_PLATFORM: 'surfaceless' } as Record<string, string>;

/** Vite dev server rooted at the repository: test pages under /e2e/pages/, any src/ module importable. */
export const PAGES_PORT = Number(process.env.FASTTTS_PAGES_PORT ?? 5174);
export const PAGES_URL = `http://localhost:${PAGES_PORT}`;

/** Vite preview of the production build of the tutor (service worker and precache included). */
export const TUTOR_PORT = Number(process.env.FASTTTS_TUTOR_PORT ?? 4173);
export const TUTOR_URL = `http://localhost:${TUTOR_PORT}`;
