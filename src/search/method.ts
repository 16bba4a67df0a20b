// The small interface every search method is written over (methods/*.ts), after search-and-learn's
// methods: each one is the algorithm alone; runSearch (search.ts) builds this run over the models,
// the KV pools and the FastTTS techniques, and dispatches to the method by name.
import type { Beam } from './beam.ts';
import type { SearchOptions } from './context.ts';

export interface SearchRun {
  readonly opts: SearchOptions;
  /** Beams forked from the prefilled prompt, one per lineage (in order), born now. */
  start(lineages: number[]): Beam[];
  /** Iteration `it`: the generator extends each active beam by a step, the verifier (if any) scores it. */
  expand(active: Beam[], it: number): Promise<void>;
  /** LookAhead verification (FastTTS): the survivors' speculative steps are scored now, not next iteration. */
  verifyAhead(survivors: Beam[], it: number): Promise<void>;
  /** `count` children of a survivor for the next iteration (child 0 keeps its lineage and speculative tokens). */
  fork(parent: Beam, required: number, count: number): Beam[];
  /** Lets go of a beam's KV; `dead` for a beam pruned or complete (its speculative work is discarded). */
  drop(b: Beam, dead?: boolean): void;
}

/** The beams a method reports, and those whose answers vote in the final selection. */
export interface MethodResult {
  beams: Beam[];
  voters: Beam[];
}

export type SearchMethodRun = (run: SearchRun) => Promise<MethodResult>;

/** Steps every beam must hold after iteration `it` of `iterations` (the last: to its end). */
export const requiredAfter = (it: number, iterations: number): number => (it === iterations - 1 ? Infinity : it + 1);

/** A beam that ended within its first `required` steps is complete. */
export const endedWithin = (b: Beam, required: number): boolean => b.ended !== null && b.steps.length <= required;
