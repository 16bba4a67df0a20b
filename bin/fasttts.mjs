#!/usr/bin/env node
// Entry point of `npx fasttts`: runs the TypeScript CLI directly, with WGSL files importable as text.
import { importSource } from './ts-import.mjs';

const { main } = await importSource('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
