// Whether the system's Vulkan loader is missing. Dawn's default backend on Linux is Vulkan; probing it
// without libvulkan.so.1 finds nothing and prints a multi-line warning on stderr, which breaks the CLI's
// one-line errors. With the loader present (any machine that reaches a GPU through Vulkan) nothing changes.

interface NodeProcess {
  platform?: string;
  execPath?: string;
  dlopen?: (module: { exports: unknown }, filename: string) => void;
}

const LIBRARY = 'libvulkan.so.1';

/**
 * True only on Linux in Node when libvulkan.so.1 loads neither from the library path nor from next to the
 * node executable (two of the places Dawn tries; the third, next to dawn.node, holds none in the package).
 */
export function vulkanLoaderMissing(): boolean {
  const proc = (globalThis as { process?: NodeProcess }).process;
  if (proc?.platform !== 'linux' || typeof proc.dlopen !== 'function') return false;
  const besideNode = (proc.execPath ?? '').replace(/[^/]*$/, '') + LIBRARY;
  return [LIBRARY, besideNode].every((file) => !loads(proc.dlopen!, file));
}

function loads(dlopen: NonNullable<NodeProcess['dlopen']>, file: string): boolean {
  try {
    dlopen({ exports: {} }, file);
  } catch (e) {
    // A library that loads is no Node addon ("Module did not self-register"): only a failed load means absent.
    return !/cannot open shared object file/i.test(String((e as Error)?.message ?? e));
  }
  return true;
}
