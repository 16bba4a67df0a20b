// Converts a Hugging Face model directory (e.g. models/arith-generator) into one GGUF file that
// llama.cpp loads: read with the project's own loader (src/model/open-model.ts), written with
// tools/gguf-writer.ts (qwen2 metadata + tokenizer.ggml.* keys from tokenizer.json).
//
//   npx tsx tools/compare/to-gguf.ts <model-dir> <out.gguf> [--type Q8_0|Q4_0|F16|F32|Q4_K|Q6_K]
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectedTensors } from '../../src/model/config.ts';
import { openModel } from '../../src/model/open-model.ts';
import type { ModelSource, TensorRecord } from '../../src/model/source.ts';
import { writeGgufModel } from '../gguf-writer.ts';

type GgufType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';

async function main(argv: string[]): Promise<void> {
  const positional = argv.filter((a, i) => !a.startsWith('--') && (i === 0 || !argv[i - 1].startsWith('--')));
  const [dir, out] = positional;
  if (!dir || !out) throw new Error('usage: to-gguf.ts <model-dir> <out.gguf> [--type Q8_0]');
  const ti = argv.indexOf('--type');
  const type = (ti >= 0 ? argv[ti + 1] : 'Q8_0') as GgufType;

  const model = await openModel(dir);
  // The writer wants the tensors in expectedTensors() order; a small model is simply gathered first.
  const byName = new Map<string, TensorRecord>();
  for await (const t of model.source.tensors()) byName.set(t.name, t);
  const ordered: ModelSource = {
    name: model.source.name,
    config: model.config,
    async *tensors() {
      for (const [name] of expectedTensors(model.config)) {
        const t = byName.get(name);
        if (!t) throw new Error(`to-gguf: tensor ${name} missing from ${dir}`);
        yield t;
      }
    },
  };
  const tokenizerJson = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const tokenizerConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;

  const h = await open(out, 'w');
  let bytes = 0;
  try {
    for await (const chunk of writeGgufModel(model.config, ordered, type, { tokenizerJson, tokenizerConfig })) {
      await h.write(chunk);
      bytes += chunk.length;
    }
  } finally {
    await h.close();
  }
  console.log(`wrote ${out} (${type}, ${bytes} bytes, ${byName.size} tensors)`);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`to-gguf: ${(e as Error).message}`);
  process.exit(1);
});
