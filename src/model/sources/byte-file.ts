// Random-access byte files, the one thing every model source (a Node path, an http(s) URL, a browser
// File or FileSystemHandle, the browser cache) provides. Parsers read a header, then one tensor's byte
// range at a time, so a model never sits whole in memory.
import { FormatError } from '../../errors.ts';

export interface ByteFile {
  /** Path, URL or file name, for messages. */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  /** Reads bytes [offset, offset + length); callers go through readRange, which checks the range. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** The files of one model (a directory, a URL prefix, a set of browser files). */
export interface FileSet {
  /** The location, for messages. */
  readonly name: string;
  /** True where reading means downloading (progress reports phase "download"). */
  readonly remote: boolean;
  /** When the location named one weights file (a .gguf or .safetensors), its name within the set. */
  readonly primary?: string;
  /** Opens a file by its name relative to the model root; null when it does not exist. */
  open(file: string): Promise<ByteFile | null>;
}

/** Reads an in-bounds byte range or fails with a FormatError saying the file is truncated. */
export async function readRange(file: ByteFile, offset: number, length: number, what = 'data'): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new FormatError(file.name, `invalid byte range for ${what}`);
  }
  if (offset + length > file.size) {
    throw new FormatError(file.name, `truncated: ${what} needs bytes ${offset}..${offset + length} but the file has ${file.size}`);
  }
  const bytes = await file.read(offset, length);
  if (bytes.length !== length) throw new FormatError(file.name, `short read of ${what}: got ${bytes.length} of ${length} bytes`);
  return bytes;
}

/** Reads a whole small file (config, index, tokenizer), refusing ones larger than `maxBytes`. */
export async function readSmallFile(file: ByteFile, maxBytes: number): Promise<Uint8Array> {
  if (file.size > maxBytes) throw new FormatError(file.name, `file of ${file.size} bytes exceeds the ${maxBytes}-byte limit for this kind of file`);
  return readRange(file, 0, file.size, 'file');
}

/** A ByteFile over bytes already in memory (tests, fuzzing, small downloaded files). */
export function memoryFile(name: string, bytes: Uint8Array): ByteFile {
  return {
    name,
    size: bytes.length,
    async read(offset, length) {
      return bytes.slice(offset, offset + length);
    },
  };
}

/** A FileSet over in-memory files keyed by name. */
export function memoryFileSet(name: string, files: Record<string, Uint8Array>, primary?: string): FileSet {
  return {
    name,
    remote: false,
    primary,
    async open(file) {
      const bytes = files[file];
      return bytes ? memoryFile(joinName(name, file), bytes) : null;
    },
  };
}

/** Rejects file names that could escape the model root (index.json shard names are untrusted). */
export function checkRelativeName(setName: string, file: string): void {
  // Control characters are what the check rejects.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: see above
  const hasControl = /[\u0000-\u001f]/.test(file);
  if (
    file.length === 0 ||
    file.length > 255 ||
    file.startsWith('/') ||
    file.includes('\\') ||
    file.split('/').some((p) => p === '..' || p === '' || p === '.') ||
    hasControl
  ) {
    throw new FormatError(setName, `invalid file name ${JSON.stringify(file.slice(0, 80))}`);
  }
}

/** The weights file a set of files stands for when it holds no safetensors weights: its single .gguf. */
export function ggufPrimary(names: string[]): string | undefined {
  if (names.includes('model.safetensors') || names.includes('model.safetensors.index.json')) return undefined;
  const ggufs = names.filter((n) => n.toLowerCase().endsWith('.gguf'));
  return ggufs.length === 1 ? ggufs[0] : undefined;
}

export function joinName(root: string, file: string): string {
  return root.endsWith('/') ? root + file : `${root}/${file}`;
}
