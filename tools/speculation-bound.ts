// The most any exact speculation could gain on the cost model's synthetic workload: with free, unbounded
// speculation every beam's step could start the moment its parent's step ends (its tokens depend only on
// its lineage and start), so the search would end with the longest root-to-beam path, in decode steps,
// over all beams ever active (pruned ones too: a selection needs every score). The baseline takes the
// sum over iterations of that iteration's longest step. Usage: npx tsx tools/speculation-bound.ts [n,...]
import { syntheticEnv } from '../src/metrics/cost-model-runner.ts';
import { syntheticProblem } from '../src/metrics/synthetic-model.ts';
import { runSearch } from '../src/search/search.ts';
import { defaultSearchOptions, BASELINE_TECHNIQUES } from '../src/search/context.ts';

async function main(): Promise<void> {
  const ns = (process.argv[2] ?? '8,16,32,64,128,256').split(',').map(Number);
  for (const n of ns) {
    for (let p = 0; p < 2; p++) {
      const env = syntheticEnv({ generatorPages: 1 << 16, verifierPages: 1 << 16 });
      let baseline = 0, longestPath = 0;
      const opts = defaultSearchOptions({
        method: 'beam', n, beamWidth: 4, iterations: 40, techniques: BASELINE_TECHNIQUES, speculationBatch: 0,
        sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 0 },
        onIteration: (it, beams, required) => {
          let longestStep = 0;
          for (const b of beams) {
            if (b.steps.length <= it) continue; // ended in an earlier iteration
            const s = b.steps[Math.min(b.steps.length, required) - 1];
            longestStep = Math.max(longestStep, s.end - s.start);
            longestPath = Math.max(longestPath, s.end - b.promptLength);
          }
          baseline += longestStep;
        },
      });
      await runSearch(env, opts, syntheticProblem(p).problem);
      console.log(`n=${n} problem ${p}: baseline ${baseline} decode steps, free speculation ${longestPath}, bound ${(baseline / longestPath).toFixed(2)}x`);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
