// Speculative tokens reach the event stream: the search on the synthetic model with a speculation budget
// (the CPU route's calibration gives 1, which turns speculation off), observed as the engine observes it
// (SearchObserver as the search's events observer), and the stream replayed into the tutor's tree model.
// A token is speculative exactly when its beam already held the steps its iteration asks for; that is
// checked against the text the tree model rebuilt from the events, independently of the observer.
import { describe, expect, it } from 'vitest';
import { SearchObserver } from '../src/api/search-events.ts';
import type { EngineEvent } from '../src/api/types.ts';
import { syntheticEnv } from '../src/simulation/cost-model-runner.ts';
import { syntheticProblem, type StepStatistics } from '../src/simulation/synthetic-model.ts';
import { BASELINE_TECHNIQUES, FASTTTS_TECHNIQUES, defaultSearchOptions, type Techniques } from '../src/search/context.ts';
import { runSearch } from '../src/search/search.ts';
import { STEP_DELIMITER } from '../src/search/step-text.ts';
import { SearchTree } from '../demo/tree-model.ts';

const STATS: StepStatistics = { stepLengths: [2, 3, 3, 4, 5, 6, 8, 12, 20], stepsPerSolution: [3, 4, 5, 6], stepErrorRate: 0.15 };
const ITERATIONS = 5;

async function observedSearch(techniques: Techniques, speculationBatch: number, i: number) {
  const env = syntheticEnv({ generatorPages: 4000, verifierPages: 4000, pageSize: 4, stats: STATS });
  const events: EngineEvent[] = [];
  const opts = defaultSearchOptions({
    method: 'beam',
    n: 8,
    beamWidth: 4,
    iterations: ITERATIONS,
    techniques,
    speculationBatch,
    maxStepTokens: 64,
    sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 900 + i },
  });
  const observer = new SearchObserver(env.codec, opts.iterations, opts.agg, (e) => events.push(e));
  opts.onIteration = (iteration, beams) => observer.onIteration(iteration, beams);
  const result = await runSearch({ ...env, events: observer }, opts, syntheticProblem(i).problem);
  const ids = observer.finish(result.beams);
  return { result, events, ids };
}

/** Replays the events into the tree model, checking each extension's mark against the steps its beam held. */
function replay(events: EngineEvent[]): { tree: SearchTree; speculativeEvents: number; speculativeTokens: number } {
  const tree = new SearchTree();
  let iteration = 0;
  let speculativeEvents = 0;
  let speculativeTokens = 0;
  for (const e of events) {
    if (e.type === 'beam-extended') {
      const stepsHeld = tree.fullText(e.beam).split(STEP_DELIMITER).length - 1;
      const required = iteration === ITERATIONS - 1 ? Infinity : iteration + 1;
      expect(e.speculative, `beam ${e.beam} in iteration ${iteration} with ${stepsHeld} steps: "${e.text}"`).toBe(stepsHeld >= required);
      if (e.speculative) {
        speculativeEvents++;
        speculativeTokens += e.tokens;
      }
    }
    tree.apply(e);
    if (e.type === 'iteration') iteration = e.iteration + 1;
  }
  return { tree, speculativeEvents, speculativeTokens };
}

describe('speculative tokens in the event stream and the tutor tree', () => {
  it('FastTTS with a speculation budget emits speculative extensions, marked exactly where a beam runs ahead of its iteration; the tree keeps them marked; baseline emits none', async () => {
    let speculativeEvents = 0,
      acceptedInFinalBeams = 0;
    for (let i = 0; i < 6; i++) {
      const base = await observedSearch(BASELINE_TECHNIQUES, 0, i);
      const fast = await observedSearch(FASTTTS_TECHNIQUES, 16, i);
      expect(fast.result.beams.map((b) => b.text)).toEqual(base.result.beams.map((b) => b.text));

      const b = replay(base.events);
      expect(b.speculativeEvents).toBe(0);
      const f = replay(fast.events);
      speculativeEvents += f.speculativeEvents;
      // Speculative tokens generated in the stream never exceed what the search counted as speculative.
      expect(f.speculativeTokens).toBeLessThanOrEqual(fast.result.counters.tokensSpeculative);
      if (f.speculativeEvents > 0) expect(f.speculativeTokens).toBeGreaterThan(0);

      // The tree: each final beam's text is what the events built, and speculative stretches stay marked.
      fast.result.beams.forEach((beam, k) => {
        expect(f.tree.fullText(fast.ids[k])).toBe(beam.text);
        for (let id: number | null = fast.ids[k]; id !== null; id = f.tree.nodes.get(id)!.parent) {
          if (f.tree.nodes.get(id)!.spans.some((s) => s.speculative)) acceptedInFinalBeams++;
        }
      });
      const marked = [...f.tree.nodes.values()].filter((n) => n.spans.some((s) => s.speculative));
      expect(marked.length > 0).toBe(f.speculativeEvents > 0);
    }
    expect(speculativeEvents).toBeGreaterThan(0);
    // Accepted speculation: tokens generated ahead became part of returned solutions, still marked.
    expect(acceptedInFinalBeams).toBeGreaterThan(0);
  });
});
