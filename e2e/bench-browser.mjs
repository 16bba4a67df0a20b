#!/usr/bin/env node
// `npm run bench:browser`: runs e2e/bench/run.ts through tsx (TypeScript shared with the test pages).
const { register } = await import('tsx/esm/api');
register();
await import('./bench/run.ts');
