// Step-level ROC AUC of a PRM on held-out labelled steps, measured by the engine (WebGPU runner, the
// engine's weight and input formats): all steps, and good steps against each solution's first wrong step.
// Usage: node tools/prm-auc.mjs [--verifier models/arith-prm] [--generator models/arith-generator]
//                               [--solutions data/prm-heldout.jsonl] [--limit K]
import { parseArgs } from 'node:util';
import { importSource } from '../bin/ts-import.mjs';

const { values } = parseArgs({
  options: {
    verifier: { type: 'string', default: 'models/arith-prm' },
    generator: { type: 'string', default: 'models/arith-generator' },
    solutions: { type: 'string', default: 'data/prm-heldout.jsonl' },
    limit: { type: 'string' },
  },
});
const { measurePrmQuality } = await importSource('../src/commands/prm-quality.ts');
const auc = await measurePrmQuality(values.verifier, values.generator, values.solutions, values.limit ? Number(values.limit) : Infinity);
console.log(
  `${values.verifier} on ${values.solutions}: ${auc.steps} steps, step AUC ${auc.all.toFixed(3)}, good vs first wrong step AUC ${auc.firstError.toFixed(3)}`,
);
