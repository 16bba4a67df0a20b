// The one entry point for loading a model: a Node path (directory, .safetensors or .gguf file), an
// http(s) URL (a Hugging Face repo or `resolve/main/` prefix, or a file), or browser files/handles.
// Returns the config, the tensor stream, the tokenizer and the generation defaults.
import { FormatError, OptionError } from '../errors.ts';
import type { ChatTemplate } from './chat-template.ts';
import type { Qwen2Config } from './config.ts';
import type { GenerationConfig } from './generation-config.ts';
import { loadGgufModel } from './gguf-loader.ts';
import { loadHfModel } from './hf-loader.ts';
import type { FileSet } from './sources/byte-file.ts';
import { inNode } from '../platform.ts';
import { cachedFileSet } from './sources/browser-cache.ts';
import { browserFileSet } from './sources/browser-files.ts';
import { httpFileSet } from './sources/http.ts';
import type { LoadProgress, ModelSource } from './source.ts';
import { checkTokenizerFitsModel, type Tokenizer } from './tokenizer.ts';

export type ModelLocation = string | URL | Blob | Blob[] | FileSystemFileHandle | FileSystemDirectoryHandle | FileSet;

export interface OpenModelOptions {
  /** Download/parse progress while opening (headers) and while the source streams tensors. */
  onProgress?: (p: LoadProgress) => void;
  /** Fail when the model has no tokenizer (default true; fixtures without one pass false). */
  requireTokenizer?: boolean;
  /** Browser (page or worker): keep downloaded files in the Cache API with an IndexedDB manifest (default true there). */
  cache?: boolean;
  /** Known sha256 (hex) of model files by name; the browser cache checks each completed download against it. */
  sha256?: Record<string, string>;
  /** Browser cache chunk size in bytes (default 8 MiB). */
  cacheChunkBytes?: number;
  /** http(s): the fetch to use (tests pass one; default globalThis.fetch). */
  fetch?: typeof fetch;
  /** http(s): extra request headers (default in Node: Authorization from HF_TOKEN for huggingface.co URLs). */
  headers?: Record<string, string>;
}

export interface OpenedModel {
  name: string;
  format: 'safetensors' | 'gguf';
  config: Qwen2Config;
  /** Streams the tensors (f32) one at a time; pass `onProgress` here or in the options. */
  source: ModelSource;
  tokenizer: Tokenizer | null;
  generationConfig: GenerationConfig;
  chatTemplate: ChatTemplate | null;
}

function isFileSet(v: unknown): v is FileSet {
  return typeof v === 'object' && v !== null && typeof (v as FileSet).open === 'function' && typeof (v as FileSet).name === 'string';
}

/** In Node, a Hugging Face token from HF_TOKEN for hub URLs (gated repos); never sent elsewhere. */
function hubToken(url: string): Record<string, string> | undefined {
  const token = typeof process !== 'undefined' ? process.env?.HF_TOKEN : undefined;
  if (!token) return undefined;
  const host = new URL(url).hostname;
  return host === 'huggingface.co' || host === 'hf.co' ? { Authorization: `Bearer ${token}` } : undefined;
}

/** Turns any supported location into the set of files it names. */
export async function resolveFileSet(location: ModelLocation, opts: OpenModelOptions = {}): Promise<FileSet> {
  if (isFileSet(location)) return location;
  if (location instanceof URL || (typeof location === 'string' && /^https?:\/\//i.test(location))) {
    const files = httpFileSet(String(location), { fetch: opts.fetch, headers: opts.headers ?? hubToken(String(location)) });
    // Browser pages and workers have Cache Storage and IndexedDB; Node has neither.
    const canCache = typeof caches !== 'undefined' && typeof indexedDB !== 'undefined';
    if (opts.cache ?? canCache) {
      return cachedFileSet(files, { chunkBytes: opts.cacheChunkBytes, sha256: opts.sha256 });
    }
    return files;
  }
  if (typeof location === 'string') {
    if (!inNode()) {
      // Browser page or worker: a relative location ("/models/x/", "models/x.gguf") is a URL on this origin.
      const here = (globalThis as { location?: { href: string } }).location?.href;
      if (here) return resolveFileSet(new URL(location, here).href, opts);
      throw new OptionError(`"${location}" is not an http(s) URL; in the browser pass a URL, File or FileSystemHandle`);
    }
    // Node only: imported on demand, through a specifier bundlers leave alone, so browser builds never
    // see node:fs. (The browser sources above are static imports: an offline page fetches no module.)
    const nodeFs = new URL('./sources/node-fs.ts', import.meta.url).href;
    const { nodeFileSet } = (await import(/* @vite-ignore */ nodeFs)) as typeof import('./sources/node-fs.ts');
    return nodeFileSet(location);
  }
  return browserFileSet(location);
}

export async function openModel(location: ModelLocation, opts: OpenModelOptions = {}): Promise<OpenedModel> {
  const files = await resolveFileSet(location, opts);
  const isGguf = files.primary?.toLowerCase().endsWith('.gguf') ?? false;
  const loaded = isGguf ? await loadGgufModel(files, opts.onProgress) : await loadHfModel(files, opts.onProgress);
  if (!loaded.tokenizer && opts.requireTokenizer !== false) {
    throw new FormatError(files.name, isGguf ? 'no tokenizer.json and no tokenizer metadata in the GGUF file' : 'tokenizer.json not found');
  }
  if (loaded.tokenizer) checkTokenizerFitsModel(loaded.tokenizer, loaded.config.vocabSize);
  const outer = opts.onProgress;
  const inner = loaded.source;
  const source: ModelSource = {
    name: inner.name,
    config: inner.config,
    storedFormat: inner.storedFormat,
    tensors: (p) => inner.tensors(p ?? outer),
  };
  return {
    name: files.name,
    format: isGguf ? 'gguf' : 'safetensors',
    config: loaded.config,
    source,
    tokenizer: loaded.tokenizer,
    generationConfig: loaded.generationConfig,
    chatTemplate: loaded.tokenizer?.chatTemplate ?? null,
  };
}
