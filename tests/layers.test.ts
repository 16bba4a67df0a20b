// The source layers point one way: each folder of src/ imports only the folders listed before it as
// allowed below, and no two source files import each other, directly or round a loop.
// (README.md, "Layout", says the same in words.)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** Bottom to top: each layer and the layers it may import (only layers above it in this list). */
const LAYERS: Array<[layer: string, mayImport: string[]]> = [
  ['platform', []],
  ['errors', []],
  ['gpu', ['platform', 'errors']],
  ['cpu', ['platform', 'errors']],
  ['model', ['platform', 'errors', 'gpu']],
  ['tasks', ['platform', 'errors']],
  ['runtime', ['platform', 'errors', 'gpu', 'cpu', 'model']],
  ['metrics', ['platform', 'errors', 'gpu', 'cpu', 'model', 'runtime']],
  ['search', ['platform', 'errors', 'gpu', 'cpu', 'model', 'tasks', 'runtime', 'metrics']],
  // Consumers of the runner seam beside the product: never imported by api/.
  ['simulation', ['platform', 'errors', 'gpu', 'cpu', 'model', 'tasks', 'runtime', 'metrics', 'search']],
  ['api', ['platform', 'errors', 'gpu', 'cpu', 'model', 'tasks', 'runtime', 'metrics', 'search']],
  ['testing', ['platform', 'errors', 'gpu', 'cpu', 'model', 'tasks', 'runtime', 'metrics', 'search', 'simulation']],
  ['commands', ['platform', 'errors', 'gpu', 'cpu', 'model', 'tasks', 'runtime', 'metrics', 'search', 'simulation', 'api', 'testing']],
  ['cli', ['errors', 'commands']],
];

/** The layer of a file under src/: its top folder, or for the files at the top, platform, errors and cli. */
function layerOf(file: string): string {
  const rel = relative(SRC, file);
  if (rel === 'platform.ts') return 'platform';
  if (rel === 'errors.ts') return 'errors';
  if (rel === 'cli.ts') return 'cli';
  return rel.split(/[\\/]/)[0];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The .ts files a source file imports (static, type-only, re-exports and dynamic imports). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const spec = (m[1] ?? m[2]).split('?')[0];
    if (spec.endsWith('.ts')) out.push(resolve(dirname(file), spec));
  }
  return out;
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('source layers', () => {
  it('lists each layer once, each importing only layers below it', () => {
    const seen: string[] = [];
    for (const [layer, below] of LAYERS) {
      expect(seen, layer).not.toContain(layer);
      for (const b of below) expect(seen, `${layer} may import ${b}`).toContain(b);
      seen.push(layer);
    }
  });

  it('places every source file in a layer', () => {
    const known = new Set(LAYERS.map(([l]) => l));
    expect(files.map(layerOf).filter((l) => !known.has(l))).toEqual([]);
  });

  it('has no import from a layer to one above it or beside it', () => {
    const allowed = new Map(LAYERS.map(([l, below]) => [l, new Set(below)]));
    const wrong: string[] = [];
    for (const [file, targets] of graph) {
      const from = layerOf(file);
      for (const t of targets) {
        const to = layerOf(t);
        if (to !== from && !allowed.get(from)?.has(to)) wrong.push(`${relative(SRC, file)} -> ${relative(SRC, t)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('resolves every relative import to a source file', () => {
    const missing = [...graph].flatMap(([f, ts]) => ts.filter((t) => !graph.has(t)).map((t) => `${relative(SRC, f)} -> ${t}`));
    expect(missing).toEqual([]);
  });

  it('has no import cycle between source files', () => {
    // Depth-first search; a file met again while still on the path closes a cycle.
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      state.set(f, 'open');
      for (const t of graph.get(f) ?? []) {
        if (state.get(t) === 'open') cycles.push([...path.slice(path.indexOf(t)), t].map((x) => relative(SRC, x)).join(' -> '));
        else if (!state.has(t) && graph.has(t)) visit(t, [...path, t]);
      }
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f, [f]);
    expect(cycles).toEqual([]);
  });
});
