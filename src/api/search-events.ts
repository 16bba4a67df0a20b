// The search as an event stream, for the tutor's live tree and any app that wants to watch: the
// search tells its SearchEvents observer (search/events.ts) as it starts, forks, extends and lets go of
// beams, and its per-iteration hook gives scores and finished beams. The observer turns them into the
// API's events: beams created, extended (speculative tokens marked), rewritten, scored, completed, pruned.
import { extractBoxed } from '../search/answer.ts';
import { aggregateScore, beamText, type Aggregation, type Beam } from '../search/beam.ts';
import type { KvSeq } from '../search/search-kv.ts';
import type { SearchEvents } from '../search/events.ts';
import { STEP_DELIMITER, type TextCodec } from '../search/step-text.ts';
import type { EngineEvent } from './types.ts';
import type { PlannerLogEntry } from '../search/memory-planner.ts';

interface BeamNode {
  id: number;
  parent: BeamNode | null;
  isRoot: boolean;
  /** Index in the beam's tokens where this node's own text starts (after the shared prefix). */
  start: number;
  /** Finished steps before this node's own text. */
  baseSteps: number | null;
  emitted: string;
  computed: number;
  children: number;
  released: boolean;
  /** 'expanded': branched into continuations (its text is a shared prefix). */
  state: 'active' | 'expanded' | 'pruned' | 'completed';
  score: number | null;
  fullText: string;
  /** The beam's token array as last seen (the search appends to it in place). */
  tokens: ArrayLike<number> | null;
}

export class SearchObserver implements SearchEvents {
  private readonly nodes = new Map<KvSeq, BeamNode>();
  private nextId = 1;
  private promptLength = 0;
  private iteration = 0;
  private iterationStart = performance.now();

  constructor(
    private readonly codec: TextCodec,
    private readonly iterations: number,
    private readonly agg: Aggregation,
    private readonly emit: (e: EngineEvent) => void,
  ) {}

  started(root: Beam): void {
    this.seqCreated(root.kv, null, 0);
  }

  forked(child: Beam, parent: Beam): void {
    this.seqCreated(child.kv, parent.kv, child.tokens.length - 1);
  }

  extended(beam: Beam): void {
    this.seqCommitted(beam.kv, beam.tokens, beam.kv.computed);
  }

  /** A preempted sequence coming back. */
  resumed(seq: KvSeq): void {
    const node = this.nodes.get(seq);
    if (node) node.released = false;
  }

  released(seq: KvSeq): void {
    const node = this.nodes.get(seq);
    if (node) node.released = true;
  }

  private seqCreated(seq: KvSeq, src: KvSeq | null, length: number): void {
    const from = src ? this.nodes.get(src) : undefined;
    if (!from) {
      this.nodes.set(seq, this.node(null, true, 0));
      return;
    }
    // The search keeps a selected beam and forks its other children from it at a step's end. In the
    // tree that point becomes a branch: the beam's text so far is the parent of both its continuation
    // and the new child. A beam with no text of its own yet branches from its own parent instead.
    let parent: BeamNode | null;
    if (from.isRoot) parent = null;
    else if (from.emitted === '' && from.start === length + 1) parent = from.parent;
    else parent = this.split(src!, from, length + 1);
    const node = this.node(parent, false, length + 1);
    this.nodes.set(seq, node);
    this.created(node);
  }

  /** Cuts `node` at token `cut`: it keeps the text before, a new node (now `seq`'s) continues after it. */
  private split(seq: KvSeq, node: BeamNode, cut: number): BeamNode {
    const tokens = node.tokens ?? [];
    const head = this.codec.decode(Array.from(tokens).slice(node.start, cut));
    const cont = this.node(node, false, cut);
    cont.baseSteps = (node.baseSteps ?? 0) + head.split(STEP_DELIMITER).length - 1;
    cont.score = node.score;
    cont.state = node.state;
    this.nodes.set(seq, cont);
    this.created(cont);
    if (head !== node.emitted) {
      node.emitted = head;
      this.emit({ type: 'beam-rewritten', beam: node.id, text: head });
    }
    node.computed = Math.min(node.computed, cut);
    if (node.state === 'active') node.state = 'expanded';
    if (tokens.length > cut) this.sync(cont, tokens, Math.max(cut, Math.min(tokens.length, node.computed)));
    return node;
  }

  private created(node: BeamNode): void {
    if (node.parent) node.parent.children++;
    this.emit({ type: 'beam-created', beam: node.id, parent: node.parent?.id ?? null, iteration: this.iteration });
  }

  private seqCommitted(seq: KvSeq, tokens: ArrayLike<number>, computed: number): void {
    const node = this.nodes.get(seq);
    if (!node) return;
    if (node.isRoot) {
      this.promptLength = Math.max(this.promptLength, tokens.length);
      return;
    }
    this.sync(node, tokens, computed);
  }

  /** SearchOptions.onIteration: scores, finished beams, the tokens not yet in the KV cache, pruning. */
  onIteration(iteration: number, beams: readonly Beam[]): void {
    for (const b of beams) {
      const node = this.nodes.get(b.kv);
      if (!node || node.isRoot) continue;
      this.sync(node, b.tokens, b.tokens.length);
      node.fullText = beamText(b);
      const scored = b.steps.filter((s) => s.score !== null);
      if (scored.length > 0) {
        const score = aggregateScore(b.steps, this.agg);
        if (score !== node.score) {
          node.score = score;
          this.emit({ type: 'beam-scored', beam: node.id, stepScore: scored[scored.length - 1].score!, score });
        }
      }
      if (b.ended !== null) this.complete(node, extractBoxed(node.fullText), node.score ?? 0);
    }
    this.prune();
    const now = performance.now();
    this.emit({ type: 'iteration', iteration, activeBeams: beams.filter((b) => b.ended === null).length, ms: now - this.iterationStart });
    this.iterationStart = now;
    this.iteration = iteration + 1;
  }

  /** After the search: final beams are matched to their nodes by text; everything else left is pruned. Returns node ids per beam. */
  finish(beams: ReadonlyArray<{ text: string; score: number; answer: string | null; completed: boolean }>): number[] {
    const ids = beams.map((b) => {
      const node = [...this.nodes.values()].find((n) => !n.isRoot && n.fullText === b.text && n.state !== 'pruned');
      if (!node) return -1;
      if (b.completed) this.complete(node, b.answer, b.score);
      return node.id;
    });
    for (const node of this.nodes.values()) node.released = true;
    this.prune();
    return ids;
  }

  private node(parent: BeamNode | null, isRoot: boolean, start: number): BeamNode {
    return {
      id: isRoot ? 0 : this.nextId++,
      parent,
      isRoot,
      start,
      baseSteps: null,
      emitted: '',
      computed: 0,
      children: 0,
      released: false,
      state: 'active',
      score: null,
      fullText: parent?.fullText ?? '',
      tokens: null,
    };
  }

  private sync(node: BeamNode, tokens: ArrayLike<number>, upTo: number): void {
    node.tokens = tokens;
    if (node.baseSteps === null) {
      const before = this.codec.decode(Array.from(tokens).slice(this.promptLength, node.start));
      node.baseSteps = before.split(STEP_DELIMITER).length - 1;
    }
    const text = this.codec.decode(Array.from(tokens).slice(node.start, upTo));
    if (text.endsWith('\uFFFD') || text === node.emitted || node.emitted.startsWith(text)) return; // incomplete character, or a recompute
    const newTokens = Math.max(0, upTo - Math.max(node.computed, node.start));
    node.computed = Math.max(node.computed, upTo);
    if (!text.startsWith(node.emitted)) {
      this.emit({ type: 'beam-rewritten', beam: node.id, text });
    } else {
      // Tokens past the step this iteration asks for are speculative (FastTTS generates them while the verifier runs).
      const stepsDone = node.baseSteps + node.emitted.split(STEP_DELIMITER).length - 1;
      const required = this.iteration >= this.iterations - 1 ? Infinity : this.iteration + 1;
      this.emit({ type: 'beam-extended', beam: node.id, text: text.slice(node.emitted.length), tokens: newTokens, speculative: stepsDone >= required });
    }
    node.emitted = text;
    if (node.state === 'pruned') node.state = 'active';
  }

  private complete(node: BeamNode, answer: string | null, score: number): void {
    if (node.state === 'completed') return;
    node.state = 'completed';
    this.emit({ type: 'beam-completed', beam: node.id, answer, score });
  }

  private prune(): void {
    for (const node of this.nodes.values()) {
      if (node.isRoot || !node.released || node.children > 0 || node.state !== 'active') continue;
      node.state = 'pruned';
      this.emit({ type: 'beam-pruned', beam: node.id });
    }
  }
}

/** A planner log entry, once its iteration ran, as the API's `planner` event (plain data, summarised inputs). */
export function plannerEvent(e: PlannerLogEntry & { observedMs: number }): EngineEvent {
  const w = e.inputs;
  const c = e.choice;
  const steps = w.stepLengths;
  return {
    type: 'planner',
    iteration: e.iteration,
    inputs: {
      beams: w.beams,
      stepLengthsSeen: steps.length,
      meanStepLength: steps.reduce((a, b) => a + b, 0) / Math.max(1, steps.length),
      maxStepLength: Math.max(0, ...steps),
      generatorContext: w.generatorContext,
      verifierContext: w.verifierContext,
      sharedPrefixTokens: w.sharedPrefixTokens,
      distinctGeneratorTokens: w.distinctGeneratorTokens ?? 0,
      distinctVerifierTokens: w.distinctVerifierTokens ?? 0,
      kvBytes: e.kvBytes,
    },
    choice: { generatorPages: c.generatorPages, verifierPages: c.verifierPages, offload: c.offload, kept: e.kept, candidates: e.candidates },
    predicted: { ms: c.ms, generatorMs: c.generatorMs, verifierMs: c.verifierMs, transferMs: c.transferMs, recomputedTokens: c.recomputedTokens },
    observedMs: e.observedMs,
  };
}
