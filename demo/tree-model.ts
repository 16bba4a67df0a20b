// The search tree as the tutor draws it, rebuilt from the engine's event stream: one node per beam,
// with its text (speculative stretches marked), its PRM scores and whether it is active, pruned or done.
import type { EngineEvent } from '../src/api/types.ts';

/** 'expanded': the beam branched; its text is the shared prefix of its children. */
export type BeamState = 'active' | 'expanded' | 'pruned' | 'completed';

export interface TextSpan {
  text: string;
  speculative: boolean;
}

export interface BeamNode {
  id: number;
  parent: number | null;
  children: number[];
  iteration: number;
  spans: TextSpan[];
  tokens: number;
  /** Aggregated PRM score of the beam so far, and the latest step's score. */
  score: number | null;
  stepScore: number | null;
  state: BeamState;
  answer: string | null;
}

export class SearchTree {
  readonly nodes = new Map<number, BeamNode>();
  readonly roots: number[] = [];
  iteration = 0;
  activeBeams = 0;
  /** Beams changed since the view last drew them. */
  readonly dirty = new Set<number>();

  apply(event: EngineEvent): void {
    switch (event.type) {
      case 'beam-created': {
        const node: BeamNode = {
          id: event.beam,
          parent: event.parent,
          children: [],
          iteration: event.iteration,
          spans: [],
          tokens: 0,
          score: null,
          stepScore: null,
          state: 'active',
          answer: null,
        };
        this.nodes.set(node.id, node);
        const parent = event.parent === null ? undefined : this.nodes.get(event.parent);
        if (parent) {
          parent.children.push(node.id);
          if (parent.state === 'active') parent.state = 'expanded';
          this.dirty.add(parent.id);
        } else {
          this.roots.push(node.id);
        }
        this.dirty.add(node.id);
        break;
      }
      case 'beam-extended': {
        const node = this.nodes.get(event.beam);
        if (!node) break;
        const last = node.spans[node.spans.length - 1];
        if (last && last.speculative === event.speculative) last.text += event.text;
        else node.spans.push({ text: event.text, speculative: event.speculative });
        node.tokens += event.tokens;
        if (node.state === 'pruned') node.state = 'active'; // a preempted beam that came back
        this.dirty.add(node.id);
        break;
      }
      case 'beam-rewritten':
        this.update(event.beam, (n) => (n.spans = [{ text: event.text, speculative: false }]));
        break;
      case 'beam-scored':
        this.update(event.beam, (n) => {
          n.score = event.score;
          n.stepScore = event.stepScore;
        });
        break;
      case 'beam-pruned':
        this.update(event.beam, (n) => (n.state = 'pruned'));
        break;
      case 'beam-completed':
        this.update(event.beam, (n) => {
          n.state = 'completed';
          n.answer = event.answer;
          n.score = event.score;
        });
        break;
      case 'iteration':
        this.iteration = event.iteration;
        this.activeBeams = event.activeBeams;
        break;
      default:
        break;
    }
  }

  /** The full text of a beam: its ancestors' text followed by its own. */
  fullText(id: number): string {
    const parts: string[] = [];
    for (let node = this.nodes.get(id); node; node = node.parent === null ? undefined : this.nodes.get(node.parent)) {
      parts.unshift(node.spans.map((s) => s.text).join(''));
    }
    return parts.join('');
  }

  private update(id: number, change: (n: BeamNode) => void): void {
    const node = this.nodes.get(id);
    if (!node) return;
    change(node);
    this.dirty.add(id);
  }
}
