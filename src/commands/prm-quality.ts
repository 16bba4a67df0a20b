// Step-level AUC of a PRM on labelled solutions, through the engine's runner (on the route the engine
// would pick) in the engine's own weight format and PRM input format (what `npx fasttts` scores steps with). Node only: reads files.
import { readFileSync } from 'node:fs';
import { openModel } from '../model/open-model.ts';
import { closeRoute, createRouteRunner, openRoute } from '../runtime/route.ts';
import { DEFAULT_KV_PAGE_SIZE, weightFormatFor } from '../api/backend.ts';
import { promptFormatFor } from '../search/prompt-format.ts';
import { parseLabelledSolutions, scoreSolutions, stepAuc, type StepAuc } from '../search/step-auc.ts';

const BATCH_TOKENS = 1024;

export async function measurePrmQuality(verifierDir: string, generatorDir: string, solutionsFile: string, limit = Infinity): Promise<StepAuc> {
  const all = parseLabelledSolutions(readFileSync(solutionsFile, 'utf8'));
  // An evenly spaced sample, not the first ones: held-out files are ordered by difficulty.
  const solutions = limit >= all.length ? all : Array.from({ length: limit }, (_, i) => all[Math.floor((i * all.length) / limit)]);
  const verifier = await openModel(verifierDir);
  const generator = await openModel(generatorDir);
  const route = await openRoute();
  try {
    // Pages for one batch: its tokens plus one partly filled page per solution.
    const numPages = BATCH_TOKENS / DEFAULT_KV_PAGE_SIZE + Math.ceil(BATCH_TOKENS / 8);
    const runner = await createRouteRunner(route, verifier.source, {
      weightFormat: weightFormatFor(verifier.source),
      numPages,
      pageSize: DEFAULT_KV_PAGE_SIZE,
      maxBatchTokens: BATCH_TOKENS,
    });
    const format = promptFormatFor(generator.tokenizer!, verifier.tokenizer!, verifier.config);
    const scores = await scoreSolutions(runner, format, solutions, BATCH_TOKENS, DEFAULT_KV_PAGE_SIZE);
    runner.dispose();
    return stepAuc(solutions, scores);
  } finally {
    closeRoute(route);
  }
}
