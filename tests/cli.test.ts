// The CLI's error contract: malformed arguments and bad files give one line on stderr and a non-zero
// exit, never a stack trace.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function fasttts(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/fasttts.mjs', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning: max')).join('\n') };
}

describe('fasttts CLI errors', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['unknown option', ['generate', '--prompt', 'x', '--bogus', '1'], /bogus/],
    ['non-numeric max tokens', ['generate', '--prompt', 'x', '--max-tokens', 'many'], /--max-tokens must be an integer/],
    ['negative temperature', ['generate', '--prompt', 'x', '--temperature=-1'], /--temperature must be a number/],
    ['bad weight format', ['generate', '--prompt', 'x', '--weights', 'q3'], /--weights must be one of f32\|q8\|q4/],
    ['missing prompt', ['generate'], /--prompt <text> is required/],
    ['missing model directory', ['generate', '--prompt', 'x', '--model', '/nonexistent/model'], /\/nonexistent\/model/],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: one line, non-zero exit`, () => {
      const r = fasttts(...args);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('a hostile model file names the file in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fasttts-bad-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Qwen2ForCausalLM'], hidden_size: 64, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 128, vocab_size: 50 }));
    // Header length far past the end of the file.
    const bad = Buffer.alloc(16);
    bad.writeBigUInt64LE(1n << 40n, 0);
    writeFileSync(join(dir, 'model.safetensors'), bad);
    const r = fasttts('generate', '--prompt', 'x', '--model', dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/model\.safetensors|tokenizer/);
  });
});
