// Writes the arithmetic splits: data/arith-test.jsonl and data/arith-validation.jsonl (committed) and the
// large train split to tools/train/.work/arith-train.jsonl.
// Usage: npx tsx tools/train/make-splits.ts [trainCount]
import { mkdirSync, writeFileSync } from 'node:fs';
import { buildSplits, toJsonl } from '../../src/tasks/splits.ts';

const { test, validation, train } = buildSplits(Number(process.argv[2] ?? 150000));
mkdirSync('data', { recursive: true });
mkdirSync('tools/train/.work', { recursive: true });
writeFileSync('data/arith-test.jsonl', toJsonl(test));
writeFileSync('data/arith-validation.jsonl', toJsonl(validation));
writeFileSync('tools/train/.work/arith-train.jsonl', toJsonl(train));
console.log(`test ${test.length}, validation ${validation.length}, train ${train.length}`);
