// The bundled models (models/arith-generator, models/arith-prm) load through the engine's own loader and
// tokenizer, and the CPU reference runner reproduces the PyTorch outputs saved at export
// (tests/fixtures/bundled-models.json, computed in float64 by tools/train/export.py).
// Tolerances (f32 engine vs f64 PyTorch): logits within 2e-3 absolute, PRM scores within 2e-4. With the
// engine's default f16 K/V (each K and V element rounded to a half, 2^-11 relative) the same comparison
// runs 10x looser: measured 7.3e-3 (logits) and 4.8e-4 (scores).
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Template } from '@huggingface/jinja';
import { loadHfModel, type HfModel } from '../src/model/hf-loader.ts';
import { nodeFileSet } from '../src/model/sources/node-fs.ts';
import { CpuReferenceRunner } from '../src/runtime/cpu-reference.ts';
import { chatPrompt } from '../src/tasks/arithmetic.ts';
import { promptFormatFor } from '../src/search/prompt-format.ts';

const TOLERANCES = [
  { kvDtype: 'f32', logits: 2e-3, scores: 2e-4 },
  { kvDtype: 'f16', logits: 2e-2, scores: 2e-3 },
] as const;
const MAX_BYTES = 10.5e6;

interface GeneratorRow {
  position: number;
  top_ids: number[];
  top_logits: number[];
}
interface Fixture {
  generator: { prompts: Array<{ text: string; ids: number[]; rows: GeneratorRow[]; last_logits?: number[] }> };
  prm: {
    separator_id: number;
    items: Array<{ problem: string; steps: string[]; labels: boolean[]; ids: number[]; separator_positions: number[]; scores: number[] }>;
  };
}

const fixture = JSON.parse(readFileSync('tests/fixtures/bundled-models.json', 'utf8')) as Fixture;
let generator: HfModel;
let prm: HfModel;

beforeAll(async () => {
  generator = await loadHfModel(await nodeFileSet('models/arith-generator'));
  prm = await loadHfModel(await nodeFileSet('models/arith-prm'));
});

async function runner(model: HfModel, maxTokens: number, kvDtype: 'f16' | 'f32'): Promise<CpuReferenceRunner> {
  return CpuReferenceRunner.create(model.source, { weightFormat: 'f32', numPages: Math.ceil(maxTokens / 16) + 1, pageSize: 16, kvDtype });
}

const pages = (n: number) => Array.from({ length: Math.ceil(n / 16) }, (_, i) => i);

describe('bundled models', () => {
  it('are small Qwen2 checkpoints of the expected kinds', () => {
    expect(generator.config.kind).toBe('causal-lm');
    expect(generator.config.tieWordEmbeddings).toBe(true);
    expect(prm.config.kind).toBe('prm-value-head');
    expect(prm.config.numKvHeads).toBeLessThan(prm.config.numHeads);
    for (const dir of ['models/arith-generator', 'models/arith-prm']) {
      expect(readFileSync(`${dir}/model.safetensors`).length).toBeLessThan(MAX_BYTES);
    }
    expect(generator.tokenizer?.isEos(generator.tokenizer.tokenToId('<|im_end|>')!)).toBe(true);
  });

  it('tokenize exactly as the trainer did (the fixture ids came from the Python pipeline)', () => {
    const tok = generator.tokenizer!;
    for (const p of fixture.generator.prompts) expect(tok.encode(p.text)).toEqual(p.ids);
    // The PRM reads the generator's own format (config.json prm_input_format "chat"), built by the engine's
    // one prompt-format module: the chat prompt, each step followed by the "\n\n" token.
    expect(prm.config.prmInputFormat).toBe('chat');
    expect(prm.tokenizer!.encode('\n\n')).toEqual([fixture.prm.separator_id]);
    const format = promptFormatFor(generator.tokenizer!, prm.tokenizer!, prm.config);
    for (const item of fixture.prm.items) {
      const ids = [...format.verifierPrefix(item.problem)];
      for (const s of item.steps) ids.push(...format.verifierStep(s));
      expect(ids).toEqual(item.ids);
    }
  });

  it('render the task prompt with their chat template', () => {
    const cfg = JSON.parse(readFileSync('models/arith-generator/tokenizer_config.json', 'utf8')) as { chat_template: string };
    const problem = 'Compute 3+4*2-5.';
    const rendered = new Template(cfg.chat_template).render({ messages: [{ role: 'user', content: problem }], add_generation_prompt: true });
    expect(rendered).toBe(chatPrompt(problem));
    expect(generator.tokenizer!.applyChatTemplate([{ role: 'user', content: problem }], { addGenerationPrompt: true })).toBe(chatPrompt(problem));
  });

  for (const { kvDtype, logits: LOGIT_TOLERANCE, scores: SCORE_TOLERANCE } of TOLERANCES) {
    it(`generator, ${kvDtype} K/V: CPU reference logits match PyTorch within ${LOGIT_TOLERANCE}`, async () => {
      const maxLen = Math.max(...fixture.generator.prompts.map((p) => p.ids.length));
      const r = await runner(generator, maxLen, kvDtype);
      const V = generator.config.vocabSize;
      let worst = 0;
      for (const p of fixture.generator.prompts) {
        const out = await r.forward({ chunks: [{ blockTable: pages(p.ids.length), start: 0, tokens: p.ids, outputRows: p.rows.map((x) => x.position) }] });
        expect(out.rows).toBe(p.rows.length);
        p.rows.forEach((row, i) => {
          const logits = out.logits!.subarray(i * V, (i + 1) * V);
          row.top_ids.forEach((id, j) => (worst = Math.max(worst, Math.abs(logits[id] - row.top_logits[j]))));
          let argmax = 0;
          for (let v = 1; v < V; v++) if (logits[v] > logits[argmax]) argmax = v;
          if (row.top_logits[0] - row.top_logits[1] > 2 * LOGIT_TOLERANCE) expect(argmax).toBe(row.top_ids[0]);
        });
        if (p.last_logits) {
          const last = out.logits!.subarray((p.rows.length - 1) * V, p.rows.length * V);
          p.last_logits.forEach((v, id) => (worst = Math.max(worst, Math.abs(last[id] - v))));
        }
      }
      r.dispose();
      expect(worst).toBeLessThan(LOGIT_TOLERANCE);
    });

    it(`PRM, ${kvDtype} K/V: CPU reference step scores match PyTorch within ${SCORE_TOLERANCE}, and rank the wrong steps lower`, async () => {
      const maxLen = Math.max(...fixture.prm.items.map((p) => p.ids.length));
      const r = await runner(prm, maxLen, kvDtype);
      let worst = 0;
      const good: number[] = [];
      const bad: number[] = [];
      for (const item of fixture.prm.items) {
        const out = await r.forward({ chunks: [{ blockTable: pages(item.ids.length), start: 0, tokens: item.ids, outputRows: item.separator_positions }] });
        item.scores.forEach((s, i) => {
          worst = Math.max(worst, Math.abs(out.scores![i] - s));
          (item.labels[i] ? good : bad).push(out.scores![i]);
        });
      }
      r.dispose();
      expect(worst).toBeLessThan(SCORE_TOLERANCE);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(good)).toBeGreaterThan(mean(bad));
    });
  }
});
