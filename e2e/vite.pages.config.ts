// Dev server for browser test pages: rooted at the repository so a page under e2e/pages/ can import any
// engine module (src/**, shaders/*.wgsl?raw) and fetch bundled models from /models/ exactly as in Node.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root,
  publicDir: false,
  clearScreen: false,
  server: { host: 'localhost', fs: { allow: [root] } },
  worker: { format: 'es' },
  optimizeDeps: {
    // Scan only the test pages (not the tutor), and never pre-bundle the Node-only Dawn binding.
    entries: ['e2e/pages/**/*.html'],
    // Also what the engine worker imports: discovering these late would make Vite reload the page mid-test.
    include: ['comlink', 'idb-keyval', '@huggingface/tokenizers', '@huggingface/jinja'],
    exclude: ['webgpu'],
  },
});
