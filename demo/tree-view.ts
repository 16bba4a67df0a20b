// Draws the SearchTree as nested lists: each beam a card with its step text (speculative tokens marked),
// its PRM score as a bar, faded when pruned, outlined when it finished. Redraws only changed beams,
// at most once per animation frame, so token-by-token events stay cheap.
import type { BeamNode, SearchTree } from './tree-model.ts';

export class TreeView {
  private readonly items = new Map<number, HTMLLIElement>();
  private readonly rootList: HTMLUListElement;
  private frame = 0;

  constructor(
    private readonly container: HTMLElement,
    private tree: SearchTree,
  ) {
    this.rootList = document.createElement('ul');
    this.rootList.className = 'tree-level';
    container.replaceChildren(this.rootList);
  }

  reset(tree: SearchTree): void {
    this.tree = tree;
    this.items.clear();
    this.rootList.replaceChildren();
    this.container.replaceChildren(this.rootList);
  }

  /** Schedules a redraw of whatever changed. */
  invalidate(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.flush();
    });
  }

  /** Draws the changed beams now (also used at the end of a run). */
  flush(): void {
    for (const id of this.tree.dirty) {
      const node = this.tree.nodes.get(id);
      if (node) this.draw(node);
    }
    this.tree.dirty.clear();
  }

  /** Highlights the path of the chosen beam. */
  markChosen(id: number | null): void {
    for (const li of this.items.values()) li.classList.remove('chosen');
    for (let node = id === null ? undefined : this.tree.nodes.get(id); node; node = node.parent === null ? undefined : this.tree.nodes.get(node.parent)) {
      this.items.get(node.id)?.classList.add('chosen');
    }
  }

  private itemFor(node: BeamNode): HTMLLIElement {
    let li = this.items.get(node.id);
    if (li) return li;
    li = document.createElement('li');
    li.className = 'beam';
    li.dataset.beam = String(node.id);
    const card = li.appendChild(document.createElement('div'));
    card.className = 'beam-card';
    card.innerHTML = '<span class="beam-score" title="PRM score"><span class="bar"></span><span class="value">·</span></span><span class="beam-text"></span>';
    li.appendChild(document.createElement('ul')).className = 'tree-level';
    this.items.set(node.id, li);
    const parentList = node.parent === null ? this.rootList : this.items.get(node.parent)?.querySelector<HTMLUListElement>(':scope > ul');
    (parentList ?? this.rootList).appendChild(li);
    return li;
  }

  private draw(node: BeamNode): void {
    const li = this.itemFor(node);
    li.classList.toggle('pruned', node.state === 'pruned');
    li.classList.toggle('completed', node.state === 'completed');
    li.classList.toggle('active', node.state === 'active');
    li.classList.toggle('expanded', node.state === 'expanded');
    const text = li.querySelector('.beam-text')!;
    text.replaceChildren(
      ...node.spans.map((span) => {
        if (!span.speculative) return document.createTextNode(span.text);
        const mark = document.createElement('mark');
        mark.className = 'speculative';
        mark.title = 'speculative tokens (generated ahead of the verifier)';
        mark.textContent = span.text;
        return mark;
      }),
    );
    if (node.state === 'completed') {
      const badge = document.createElement('span');
      badge.className = 'beam-answer';
      badge.textContent = node.answer === null ? 'no answer' : `= ${node.answer}`;
      text.appendChild(badge);
    }
    const score = li.querySelector<HTMLElement>('.beam-score')!;
    score.querySelector<HTMLElement>('.value')!.textContent = node.score === null ? '·' : node.score.toFixed(2);
    score.querySelector<HTMLElement>('.bar')!.style.width = `${Math.round((node.score ?? 0) * 100)}%`;
  }
}
