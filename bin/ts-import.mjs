// Loads the engine's TypeScript sources in plain Node: WGSL files become importable as text (as Vite
// does) and .ts modules load through tsx, scoped to this import so the host program's own module
// loading is left alone.
import { register } from 'node:module';

register('./wgsl-loader.mjs', import.meta.url);
const { tsImport } = await import('tsx/esm/api');

/** Imports a TypeScript module of this package, `path` relative to bin/. */
export const importSource = (path) => tsImport(new URL(path, import.meta.url).href, import.meta.url);
