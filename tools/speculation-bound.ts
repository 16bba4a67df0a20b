// The most any exact FastTTS schedule could gain on the cost model's synthetic workload, two bounds per n:
// - free speculation: with free, unbounded speculation every beam's step could start the moment its
//   parent's step ends (its tokens depend only on its lineage and start), so the search would end with
//   the longest root-to-beam path, in decode steps, over all beams ever active (pruned ones too: a
//   selection needs every score). The baseline takes the sum over iterations of that iteration's
//   longest step.
// - busy device (with --setting): an exact schedule still computes every token the baseline computes,
//   in both models, on one device; so its latency is at least max(longest path x the time of a decode
//   step of one sequence, the generator's and the verifier's compute for all those tokens). The bound is
//   the baseline's latency (cost model, full budget) over that; it ignores all memory traffic but the
//   weights, so no schedule reaches it.
// Usage: npx tsx tools/speculation-bound.ts [n,...] [--setting paper|engine] [--pairing 1.5b+1.5b]
import { syntheticEnv } from '../src/simulation/cost-model-runner.ts';
import { syntheticProblem } from '../src/simulation/synthetic-model.ts';
import { forwardCost, predictDecodeMs } from '../src/metrics/cost-model.ts';
import { hardwareProfile, withTensorCores } from '../src/metrics/hardware-profiles.ts';
import { TraceRecorder } from '../src/metrics/trace.ts';
import { BENCH_SETTINGS, pairingShapes } from '../src/commands/bench.ts';
import { runSearch } from '../src/search/search.ts';
import { defaultSearchOptions, BASELINE_TECHNIQUES } from '../src/search/context.ts';

function argAfter(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const positional = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : undefined;
  const ns = (positional ?? '8,16,32,64,128,256').split(',').map(Number);
  const settingName = argAfter('--setting');
  const setting = settingName ? BENCH_SETTINGS[settingName] : undefined;
  if (settingName && !setting) throw new Error(`unknown setting ${settingName}`);
  const pair = pairingShapes(argAfter('--pairing') ?? '1.5b+1.5b', setting);
  const profile = setting?.tensorCores ? withTensorCores(hardwareProfile('rtx4090')) : hardwareProfile('rtx4090');
  // Per-token compute of each model: a call of many tokens is compute-bound, its time over its tokens.
  const perToken = (shape: typeof pair.generator): number => {
    const tokens = 1 << 16;
    const c = forwardCost(profile, shape, { sequences: tokens, newTokens: tokens, contextTokens: 0, outputRows: tokens });
    return (((c.linear.flops + c.head.flops) / (profile.peakFlops * profile.computeEfficiency)) * 1000) / tokens;
  };
  const stepMs = predictDecodeMs(profile, pair.generator, 1, 1000);
  for (const n of ns) {
    for (let p = 0; p < 2; p++) {
      const trace = new TraceRecorder();
      const env = setting
        ? syntheticEnv({ generatorPages: 1 << 16, verifierPages: 1 << 16, cost: { profile, generator: pair.generator, verifier: pair.verifier } })
        : syntheticEnv({ generatorPages: 1 << 16, verifierPages: 1 << 16 });
      env.trace = trace;
      let baseline = 0,
        longestPath = 0;
      const opts = defaultSearchOptions({
        method: 'beam',
        n,
        beamWidth: 4,
        iterations: 40,
        techniques: BASELINE_TECHNIQUES,
        speculationBatch: 0,
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
      const t0 = env.clock.now();
      await runSearch(env, opts, syntheticProblem(p).problem);
      let line = `n=${n} problem ${p}: baseline ${baseline} decode steps, free speculation ${longestPath}, bound ${(baseline / longestPath).toFixed(2)}x`;
      if (setting) {
        const latency = env.clock.now() - t0;
        const tokens = (model: 'generator' | 'verifier') => trace.entries.filter((e) => e.model === model).reduce((a, e) => a + e.newTokens, 0);
        const busy = tokens('generator') * perToken(pair.generator) + tokens('verifier') * perToken(pair.verifier);
        const floor = Math.max(longestPath * stepMs, busy);
        line += `; baseline ${(latency / 1000).toFixed(1)} s, busy-device floor ${(floor / 1000).toFixed(1)} s (critical path ${((longestPath * stepMs) / 1000).toFixed(1)} s, compute ${(busy / 1000).toFixed(1)} s): at most ${(latency / floor).toFixed(2)}x lower latency`;
      }
      console.log(line);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
