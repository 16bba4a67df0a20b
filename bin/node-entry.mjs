// The package's entry in Node (`import { createEngine } from 'fasttts-web'`): the engine runs in-process,
// from its TypeScript sources. Bundlers (Vite) take src/api/index.ts directly instead (package.json exports).
import { importSource } from './ts-import.mjs';

const api = await importSource('../src/api/index.ts');

export const { createEngine, CancelledError, DeviceLostError, FastTTSError, FormatError, NoGpuError, OptionError, OutOfMemoryError, PromptTooLongError } = api;
