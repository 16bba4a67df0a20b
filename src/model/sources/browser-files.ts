// Model files the user hands to the page: a File or Blob (one .gguf/.safetensors file), several Files
// (an <input webkitdirectory> selection or a drop), or File System Access handles to a file or folder.
// Reads slice the Blob, so nothing is loaded whole.
import { FormatError } from '../../errors.ts';
import { checkRelativeName, ggufPrimary, type ByteFile, type FileSet } from './byte-file.ts';

function blobFile(name: string, blob: Blob): ByteFile {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

function baseName(f: Blob): string | null {
  const file = f as File & { webkitRelativePath?: string };
  const path = file.webkitRelativePath || file.name;
  return typeof path === 'string' && path ? path.split('/').pop()! : null;
}

async function singleBlob(blob: Blob): Promise<FileSet> {
  let name = baseName(blob);
  if (!name || !/\.(gguf|safetensors)$/i.test(name)) {
    // A nameless Blob: tell the two formats apart by the GGUF magic.
    const magic = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
    name = String.fromCharCode(...magic) === 'GGUF' ? 'model.gguf' : 'model.safetensors';
  }
  const file = blobFile(name, blob);
  return { name, remote: false, primary: name, open: async (f) => (f === name ? file : null) };
}

function blobSet(blobs: Blob[]): FileSet {
  const byName = new Map<string, Blob>();
  for (const b of blobs) {
    const n = baseName(b);
    if (n) byName.set(n, b);
  }
  const name = `${byName.size} selected files`;
  return {
    name,
    remote: false,
    primary: ggufPrimary([...byName.keys()]),
    async open(f) {
      const b = byName.get(f);
      return b ? blobFile(f, b) : null;
    },
  };
}

async function directorySet(dir: FileSystemDirectoryHandle): Promise<FileSet> {
  const names: string[] = [];
  for await (const key of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(key);
  return {
    name: dir.name,
    remote: false,
    primary: ggufPrimary(names),
    async open(f) {
      checkRelativeName(dir.name, f);
      if (!names.includes(f)) return null;
      return blobFile(`${dir.name}/${f}`, await (await dir.getFileHandle(f)).getFile());
    },
  };
}

export async function browserFileSet(location: Blob | Blob[] | FileSystemFileHandle | FileSystemDirectoryHandle): Promise<FileSet> {
  if (typeof Blob !== 'undefined' && location instanceof Blob) return singleBlob(location);
  if (Array.isArray(location)) return blobSet(location);
  const handle = location as FileSystemHandle;
  if (handle.kind === 'file') return singleBlob(await (handle as FileSystemFileHandle).getFile());
  if (handle.kind === 'directory') return directorySet(handle as FileSystemDirectoryHandle);
  throw new FormatError(String(location), 'not a File, Blob, file list or file system handle');
}
