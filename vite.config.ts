// The tutor PWA (demo/): `vite` serves it for development, `vite build` writes dist/demo/, `vite preview`
// serves that build. The bundled models (models/) and the competition problem sets (data/competition/) are
// part of the build and of the service worker's precache, so the tutor works offline after one visit.
import { defineConfig, type Plugin } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('.', import.meta.url));
const modelsDir = join(repoRoot, 'models');
// MATH-500, AIME 2024, AMC 2023 (data/competition/): one JSON object a line ({id, problem, answer, ...}).
const datasetsDir = process.env.FASTTTS_DATASETS ?? join(repoRoot, 'data', 'competition');
const competitionSets = ['math500', 'aime24', 'amc23'];

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => statSync(join(dir, name)).isFile() && !name.split(sep).some((part) => part.startsWith('.')))
    .map((name) => name.split(sep).join('/'));
}

/** Bundled models, served at /models/<name>/<file> in development and emitted into the build. */
function bundledModels(): Plugin {
  const files = () => filesUnder(modelsDir).filter((name) => name.includes('/'));
  const index = () => {
    const models = new Map<string, string[]>();
    for (const file of files()) {
      const [model, ...rest] = file.split('/');
      models.set(model, [...(models.get(model) ?? []), rest.join('/')]);
    }
    return JSON.stringify([...models].map(([name, list]) => ({ name, files: list })));
  };
  return {
    name: 'fasttts-bundled-models',
    configureServer(server) {
      server.middlewares.use('/models/', (req, res, next) => {
        const path = decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '');
        if (path === 'index.json') return void res.setHeader('content-type', 'application/json').end(index());
        const file = join(modelsDir, path);
        if (relative(modelsDir, file).startsWith('..') || !existsSync(file) || !statSync(file).isFile()) return next();
        // Model loaders read tensors with Range requests.
        const size = statSync(file).size;
        const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
        res.setHeader('accept-ranges', 'bytes');
        if (!range) {
          res.setHeader('content-length', size);
          return void createReadStream(file).pipe(res);
        }
        const start = Number(range[1]);
        const end = Math.min(range[2] ? Number(range[2]) : size - 1, size - 1);
        if (start > end) return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
        createReadStream(file, { start, end }).pipe(res);
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'models/index.json', source: index() });
      for (const file of files()) {
        this.emitFile({ type: 'asset', fileName: `models/${file}`, source: readFileSync(join(modelsDir, file)) });
      }
    },
  };
}

/** Competition problems (problem and answer only, solutions dropped to keep the build light) as one JSON file. */
function competitionProblems(): Plugin {
  const source = () => {
    const sets: Record<string, Array<{ id: string; problem: string; answer: string }>> = {};
    for (const set of competitionSets) {
      const file = join(datasetsDir, `${set}.jsonl`);
      if (!existsSync(file)) continue;
      sets[set] = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.trim())
        .map((line) => JSON.parse(line))
        .map(({ id, problem, answer }) => ({ id, problem, answer }));
    }
    return JSON.stringify(sets);
  };
  return {
    name: 'fasttts-competition-problems',
    configureServer(server) {
      server.middlewares.use('/datasets/competition.json', (_req, res) => {
        res.setHeader('content-type', 'application/json').end(source());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'datasets/competition.json', source: source() });
    },
  };
}

// Cross-origin isolation: with it the page may share WebAssembly memory between threads, so the engine's
// CPU route uses the machine's cores (without it, one). A host serving dist/demo/ should send the same.
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: 'demo',
  base: './',
  // Unknown paths are 404s, not index.html: model loaders probe for optional files (sharded index, GGUF).
  appType: 'mpa',
  clearScreen: false,
  build: { outDir: '../dist/demo', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2048 },
  server: { host: 'localhost', fs: { allow: [repoRoot] }, headers: isolation },
  preview: { host: 'localhost', headers: isolation },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['webgpu'] },
  plugins: [
    bundledModels(),
    competitionProblems(),
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: false,
      includeAssets: ['icon.svg'],
      manifest: {
        name: 'FastTTS Math Tutor',
        short_name: 'Math Tutor',
        description: 'Step-by-step math solutions searched by a small model on your own device (WebGPU), offline.',
        start_url: '.',
        scope: '.',
        display: 'standalone',
        background_color: '#f7f7f4',
        theme_color: '#1d4e89',
        icons: [
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,ico,woff2,json,webmanifest}'],
        // Model files are not precached: the engine's model cache (Cache API + IndexedDB manifest,
        // src/model/sources/browser-cache.ts) keeps them, with Range reads and integrity checks, and
        // serves them offline. The precache holds the app itself and the problem sets.
        globIgnores: ['models/**'],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        navigateFallback: 'index.html',
        cleanupOutdatedCaches: true,
        // Take control of the page that installed it, so the first visit already works offline.
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
});
