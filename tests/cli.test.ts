// The CLI's error contract: malformed arguments and bad files give one line on stderr and a non-zero
// exit, never a stack trace, also when the error comes after the GPU has started.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../src/cli.ts';
import { GENERATE_OPTIONS } from '../src/commands/generate.ts';
import { BENCH_OPTIONS } from '../src/commands/bench-cli.ts';
import { SOLVE_OPTIONS } from '../src/commands/solve-cli.ts';
import { PROBLEMS_OPTIONS } from '../src/commands/problems.ts';
import { BUNDLED_GENERATOR, bundledGeneratorWith, bundledJson } from './bundled-model-copy.ts';
import { runCli } from './cli-run.ts';

function expectOneLine(r: ReturnType<typeof runCli>, message: RegExp) {
  expect(r.status).not.toBe(0);
  expect(r.stderr).toHaveLength(1);
  expect(r.stderr[0]).toMatch(message);
}

describe('fasttts CLI errors', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['unknown option', ['generate', '--prompt', 'x', '--bogus', '1'], /bogus/],
    ['non-numeric max tokens', ['generate', '--prompt', 'x', '--max-tokens', 'many'], /--max-tokens must be an integer/],
    ['negative temperature', ['generate', '--prompt', 'x', '--temperature=-1'], /--temperature must be a number/],
    ['bad weight format', ['generate', '--prompt', 'x', '--weights', 'q3'], /--weights must be one of f32\|f16\|bf16\|q8\|q4/],
    ['missing prompt', ['generate'], /--prompt <text> is required/],
    ['problems at an unknown level', ['problems', '--levels', '3-9'], /--levels must be a or a-b/],
    ['missing model directory', ['generate', '--prompt', 'x', '--model', '/nonexistent/model'], /\/nonexistent\/model/],
    // Sized from --max-tokens, the KV cache would pass the storage binding limit: the length is checked first.
    [
      'max tokens past the context',
      ['generate', '--max-tokens', '100000', '--prompt', 'hi'],
      /^fasttts generate: prompt of \d+ tokens exceeds the limit of 512$/,
    ],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: one line, non-zero exit`, () => {
      const r = runCli(args);
      expectOneLine(r, message);
      expect(r.stderr.join('\n')).not.toMatch(/\n\s+at /);
    });
  }

  it('a hostile model file names the file in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fasttts-bad-'));
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        architectures: ['Qwen2ForCausalLM'],
        hidden_size: 64,
        num_hidden_layers: 1,
        num_attention_heads: 4,
        intermediate_size: 128,
        vocab_size: 50,
      }),
    );
    // Header length far past the end of the file.
    const bad = Buffer.alloc(16);
    bad.writeBigUInt64LE(1n << 40n, 0);
    writeFileSync(join(dir, 'model.safetensors'), bad);
    expectOneLine(runCli(['generate', '--prompt', 'x', '--model', dir]), /model\.safetensors|tokenizer/);
  });

  it('a tokenizer with ids past vocab_size names tokenizer.json in one line', () => {
    const tokenizer = bundledJson('tokenizer.json');
    const added = [...(tokenizer.added_tokens as object[]), { id: 400, content: '<|far|>', special: true }];
    const dir = bundledGeneratorWith({ 'tokenizer.json': { ...tokenizer, added_tokens: added } });
    expectOneLine(runCli(['generate', '--prompt', 'x', '--model', dir]), new RegExp(`${join(dir, 'tokenizer.json')}: token id 400 is outside`));
  });

  it('an error after the GPU has started (a NaN in the weights, found on upload) is still one line', () => {
    const weights = readFileSync(join(BUNDLED_GENERATOR, 'model.safetensors'));
    const dataStart = 8 + Number(weights.readBigUInt64LE(0));
    weights.writeFloatLE(NaN, dataStart);
    const dir = bundledGeneratorWith({ 'model.safetensors': weights });
    // Dawn's Vulkan probe used to add a multi-line warning here on machines without libvulkan.
    expectOneLine(
      runCli(['generate', '--prompt', 'x', '--model', dir]),
      new RegExp(`^fasttts generate: ${dir}: tensor model\\.embed_tokens\\.weight holds a non-finite value \\(NaN\\) at index 0$`),
    );
  });
});

describe('fasttts problems', () => {
  it('writes fresh, seeded problems of the asked levels as JSONL', () => {
    const r = runCli(['problems', '--seed', '424242', '--count', '6', '--levels', '2-3']);
    expect(r.status).toBe(0);
    const rows = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(6);
    expect(rows.map((p) => p.difficulty)).toEqual([2, 3, 2, 3, 2, 3]);
    for (const p of rows as object[]) expect(Object.keys(p).sort()).toEqual(['answer', 'difficulty', 'id', 'problem', 'solution']);
    expect(runCli(['problems', '--seed', '424242', '--count', '6', '--levels', '2-3']).stdout).toEqual(r.stdout);
  });
});

describe('fasttts --help', () => {
  /** The --options named in the usage text between two markers. */
  const listed = (from: string, to: string): string[] => {
    const section = USAGE.slice(USAGE.indexOf(from), USAGE.indexOf(to));
    return [...new Set([...section.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]))].sort();
  };
  const cases: Array<[string, string, string, Record<string, unknown>]> = [
    ['generate', '\n  generate', '\n  solve', GENERATE_OPTIONS],
    ['solve', '\n  solve', '\n  eval', SOLVE_OPTIONS],
    ['bench', '\n  bench', '\n  problems', BENCH_OPTIONS],
    ['problems', '\n  problems', '\n\nDefaults', PROBLEMS_OPTIONS],
  ];
  for (const [command, from, to, options] of cases) {
    it(`lists exactly the options ${command} accepts`, () => expect(listed(from, to)).toEqual(Object.keys(options).sort()));
  }
});
