#!/usr/bin/env node
// Entry point of `npx fasttts`: runs the TypeScript CLI directly (tsx), with WGSL files importable as text.
import { register } from 'node:module';

register('./wgsl-loader.mjs', import.meta.url);
const { register: registerTsx } = await import('tsx/esm/api');
registerTsx();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
