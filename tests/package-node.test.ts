// The package as a Node program imports it: `import { createEngine } from 'fasttts-web'` resolves through
// package.json's "node" export condition (here by the package importing itself, as an installed copy
// would resolve), exports everything src/api/index.ts exports, and runs the bundled models in-process.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as api from '../src/api/index.ts';

const SCRIPT = `
const m = await import('fasttts-web');
const engine = await m.createEngine();
const info = await engine.ready;
const { text } = await engine.generate('Compute 3 + 4.', { chat: true, maxTokens: 4 });
let optionError = '';
try { await engine.solve('Compute 3 + 4.', { method: 'beam', n: 6, beamWidth: 4 }); } catch (e) { optionError = e instanceof m.OptionError ? e.name : String(e); }
await engine.dispose();
console.log(JSON.stringify({ exports: Object.keys(m).sort(), runsIn: info.runsIn, text, optionError }));
`;

describe('the package in plain Node', () => {
  it("imports as 'fasttts-web', exports the whole API and solves in-process", () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { exports: string[]; runsIn: string; text: string; optionError: string };
    expect(out.exports).toEqual(Object.keys(api).sort());
    expect(out.runsIn).toBe('in-process');
    expect(out.text.length).toBeGreaterThan(0);
    expect(out.optionError).toBe('OptionError');
  });
});
