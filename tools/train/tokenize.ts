// Tokenizes text for the Python trainer with the same library the engine uses (@huggingface/tokenizers),
// so Python-side ids are TypeScript-side ids by construction.
// Usage: npx tsx tools/train/tokenize.ts <tokenizer dir> <in.jsonl> <out.jsonl>
//   each input line {"texts": [string, ...]} -> output line {"ids": [[id, ...], ...]}
import { readFileSync, writeFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

const [dir, input, output] = process.argv.slice(2);
const tokenizer = new Tokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')));
const out: string[] = [];
for (const line of readFileSync(input, 'utf8').split('\n')) {
  if (!line) continue;
  const { texts } = JSON.parse(line) as { texts: string[] };
  out.push(JSON.stringify({ ids: texts.map((t) => tokenizer.encode(t, { add_special_tokens: false }).ids) }));
}
writeFileSync(output, out.join('\n') + '\n');
