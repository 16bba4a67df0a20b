// Model files from a Node path: a directory in Hugging Face layout, or one .gguf / .safetensors file
// (its directory is the model root, so config.json and tokenizer.json next to it are found).
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError } from '../../errors.ts';
import { checkRelativeName, ggufPrimary, type ByteFile, type FileSet } from './byte-file.ts';

async function openNodeFile(path: string): Promise<ByteFile | null> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) return null;
    size = s.size;
  } catch {
    return null;
  }
  return {
    name: path,
    size,
    async read(offset, length) {
      const out = new Uint8Array(length);
      const handle = await open(path, 'r');
      try {
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done === length ? out : out.subarray(0, done);
      } finally {
        await handle.close();
      }
    },
  };
}

/** A directory without safetensors weights holding exactly one .gguf file stands for that file. */
async function loneGguf(dir: string): Promise<string | undefined> {
  return ggufPrimary(await readdir(dir).catch(() => [] as string[]));
}

export async function nodeFileSet(path: string): Promise<FileSet> {
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch {
    throw new FormatError(path, 'no such file or directory');
  }
  const root = isDir ? path : dirname(path);
  return {
    name: path,
    remote: false,
    primary: isDir ? await loneGguf(path) : basename(path),
    async open(file) {
      checkRelativeName(path, file);
      return openNodeFile(join(root, file));
    },
  };
}
