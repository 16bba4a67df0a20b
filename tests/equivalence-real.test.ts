// Exact equivalence on the bundled models through real runners (the CPU reference runner: the same
// forward math as the WebGPU kernels, batch-independent; and the CPU route's WebAssembly runner, the
// engine's default here), with speculation forced on so that it runs.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { openSearchModels } from '../src/testing/search-env.ts';
import { runSearch } from '../src/search/search.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions } from '../src/search/context.ts';

const haveModels =
  existsSync('models/arith-generator/model.safetensors') && existsSync('models/arith-prm/model.safetensors') && existsSync('data/arith-test.jsonl');

describe('equivalence on the bundled models', () => {
  it.skipIf(!haveModels).each([
    ['reference', 'f16'],
    ['reference', 'f32'],
    ['wasm', 'f16'],
    ['wasm', 'f32'],
  ] as const)('%s runner, %s K/V: FastTTS gives the baseline answer and beams, speculation included', async (backend, kvDtype) => {
    const m = await openSearchModels({
      generator: 'models/arith-generator',
      verifier: 'models/arith-prm',
      backend,
      kvDtype,
      generatorPages: 512,
      verifierPages: 512,
    });
    const problems = readFileSync('data/arith-test.jsonl', 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { problem: string; difficulty: number })
      // Harder problems: numbers of different widths make step lengths differ, so beams finish steps at
      // different times and speculation has idle slots to fill. The bundled generator is confident: at
      // temperature 0.8 its beams mostly write the same steps and finish them together (no speculative
      // token at all on these problems), so the test samples hot enough for the beams to diverge.
      .filter((p) => p.difficulty >= 5)
      .slice(0, 3);
    let speculative = 0,
      early = 0;
    for (const [i, p] of problems.entries()) {
      const run = (techniques: typeof BASELINE_TECHNIQUES) =>
        runSearch(
          m.makeEnv(),
          defaultSearchOptions({
            n: 4,
            beamWidth: 2,
            iterations: 5,
            techniques,
            speculationBatch: 8,
            maxStepTokens: 48,
            sampling: { temperature: 2, topK: 0, topP: 1, seed: i },
          }),
          p.problem,
        );
      const base = await run(BASELINE_TECHNIQUES);
      const fast = await run(FASTTTS_TECHNIQUES);
      expect(fast.answer).toBe(base.answer);
      expect(fast.beams.map((b) => [b.text, b.score, b.completed])).toEqual(base.beams.map((b) => [b.text, b.score, b.completed]));
      speculative += fast.counters.tokensSpeculativeAccepted;
      early += fast.counters.stepsScoredEarly;
    }
    expect(speculative).toBeGreaterThan(0);
    expect(early).toBeGreaterThan(0); // PRM scores from mid-phase requests equal the verifier phase's
    m.dispose();
  });
});
