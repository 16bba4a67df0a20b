"""Search-and-learn beam search in PyTorch, for the training-side analyses (the engine has its own): n beams;
each iteration every active beam samples one step (the n / beam_width kept prefixes copied back up to n),
`score` rates each new step (the last-step score), finished beams are set aside, and the best n / beam_width
unfinished ones are kept. The answer is the finished beam with the best score."""
import re

import torch

from sampling import generate


def boxed_answer(vocab, ids):
    m = re.findall(r'\\boxed\{([^}]*)\}', vocab.decode(ids))
    return m[-1].strip() if m else None


def beam_search(gen, vocab, prompts, score, n, beam_width, max_iterations, temperature, rng, filter_duplicates=False):
    """prompts: one id list per problem. score([(problem index, ids so far, length of the new step)]) -> floats.
    filter_duplicates: keep one of each distinct unfinished text before the selection (search-and-learn's option).
    Returns the chosen answer per problem (None when no beam finished)."""
    keep = n // beam_width
    state = [{'prefixes': [[] for _ in range(keep)], 'done': []} for _ in prompts]
    for _ in range(max_iterations):
        # search-and-learn's (survivors * repeats)[:n]: fewer survivors (beams finished or duplicates
        # filtered) still make n samples, the first survivors one more each when n does not divide.
        rows = [(pi, b) for pi, s in enumerate(state) if s['prefixes']
                for j, b in enumerate(s['prefixes']) for _ in range(n // len(s['prefixes']) + (j < n % len(s['prefixes'])))]
        if not rows:
            break
        new = generate(gen, [prompts[pi] + b for pi, b in rows], 60, temperature, {vocab.sep, vocab.im_end}, rng)
        cands = [(pi, b + o, len(o)) for (pi, b), o in zip(rows, new)]
        nxt = [[] for _ in prompts]
        for (pi, ids, _), s in zip(cands, score(cands)):
            finished = ids[-1] != vocab.sep or boxed_answer(vocab, ids) is not None
            (state[pi]['done'] if finished else nxt[pi]).append((s, ids))
        if filter_duplicates:
            nxt = [list({tuple(ids): (sc, ids) for sc, ids in reversed(c)}.values())[::-1] for c in nxt]
        for pi, s in enumerate(state):
            s['prefixes'] = [] if len(s['done']) >= n else [ids for _, ids in sorted(nxt[pi], key=lambda x: -x[0])[:keep]]
    return [boxed_answer(vocab, max(s['done'], key=lambda x: x[0])[1]) if s['done'] else None for s in state]
