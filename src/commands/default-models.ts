// Where the bundled models live, so every command works offline on a fresh clone.
import { fileURLToPath } from 'node:url';

export const DEFAULT_GENERATOR = fileURLToPath(new URL('../../models/arith-generator', import.meta.url));
export const DEFAULT_VERIFIER = fileURLToPath(new URL('../../models/arith-prm', import.meta.url));
