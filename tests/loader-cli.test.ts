// Hostile model files given to the command line: each gives one line on stderr naming the file and a
// non-zero exit, before any GPU work (the model is opened and checked first).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyConfigJson } from '../src/model/random-model.ts';
import { writeFixtureModel } from '../tools/make-fixture-model.ts';
import { stderrLines } from './cli-run.ts';

let root: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'fasttts-cli-hostile-'));
  await writeFixtureModel(join(root, 'deep'), tinyConfigJson({ vocab_size: 320 }));
  await writeFixtureModel(join(root, 'utf8'), tinyConfigJson({ vocab_size: 320 }));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function generate(model: string) {
  const r = spawnSync(process.execPath, ['bin/fasttts.mjs', 'generate', '--prompt', 'x', '--model', model], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: stderrLines(r.stderr) };
}

describe('hostile model files on the command line', () => {
  it('a GGUF claiming 2^63 tensors', () => {
    const file = join(root, 'absurd.gguf');
    const b = Buffer.alloc(32);
    b.write('GGUF', 0, 'latin1');
    b.writeUInt32LE(3, 4);
    b.writeBigUInt64LE(2n ** 63n - 1n, 8);
    writeFileSync(file, b);
    const r = generate(file);
    expect(r.status).toBe(1);
    expect(r.stderr).toEqual([`fasttts generate: ${file}: absurd tensor count 9223372036854775807`]);
  });

  it('a tokenizer.json nested 100,000 levels deep', () => {
    writeFileSync(join(root, 'deep', 'tokenizer.json'), '['.repeat(100_000) + ']'.repeat(100_000));
    const r = generate(join(root, 'deep'));
    expect(r.status).toBe(1);
    expect(r.stderr).toEqual([`fasttts generate: ${join(root, 'deep', 'tokenizer.json')}: JSON nested deeper than 64 levels`]);
  });

  it('a safetensors header with invalid UTF-8', () => {
    const file = join(root, 'utf8', 'model.safetensors');
    const bytes = readFileSync(file);
    bytes[8 + 3] = 0xff; // inside the first tensor name
    writeFileSync(file, bytes);
    const r = generate(join(root, 'utf8'));
    expect(r.status).toBe(1);
    expect(r.stderr).toEqual([`fasttts generate: ${file}: JSON is not valid UTF-8`]);
  });
});
