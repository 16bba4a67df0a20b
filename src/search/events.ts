// The search as it happens, for an observer (the API's event stream and the tutor's tree): the search
// calls these as it starts, forks, extends and lets go of beams. A beam is known by its generator KV
// sequence, which it keeps through preemption (released, then resumed).
import type { Beam } from './beam.ts';
import type { KvSeq } from './search-kv.ts';

export interface SearchEvents {
  /** The prompt's beam, before any other. */
  started(root: Beam): void;
  /** `child` was forked from `parent`, sharing its tokens so far. */
  forked(child: Beam, parent: Beam): void;
  /** The generator just computed the beam's tokens up to its KV's `computed`. */
  extended(beam: Beam): void;
  /** The search let go of a sequence's KV: its beam pruned or complete, preempted, or its speculation not running now. */
  released(seq: KvSeq): void;
  /** A released sequence takes its cached prefix back to run again. */
  resumed(seq: KvSeq): void;
}
