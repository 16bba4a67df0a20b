"""The verifier's sibling ranking: on groups of sampled next steps after the same right prefix (sample_steps.py
siblings: the generator's own samples, some right, some wrong), how often the PRM scores a right step above a
wrong one (ties count half), overall and by what is wrong with the wrong step. This is what beam search asks of
its verifier at every selection.
Usage: /usr/bin/python3 tools/train/sibling_ranking.py [--prm bundled:arith-prm] [--siblings siblings-val.jsonl]"""
import argparse
import collections
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import chain_steps  # noqa: E402
from bundled import load_model  # noqa: E402
from common import WORK, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2ForPrmModel  # noqa: E402


@torch.no_grad()
def score_steps(prm, vocab, rows):
    """PRM score (sigmoid at the separator) of every sibling step of each row: [[score, ...], ...]."""
    texts = [[chat_prompt(r['problem'])] + r['prefix'] + r['steps'] for r in rows]
    out = []
    for r, t in zip(rows, tokenize(texts)):
        prefix = list(t[0])
        for s in t[1:1 + len(r['prefix'])]:
            prefix += s + [vocab.sep]
        seqs = [prefix + s + [vocab.sep] for s in t[1 + len(r['prefix']):]]
        T = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), T, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
        logits = prm(ids)
        out.append([float(torch.sigmoid(logits[i, len(s) - 1])) for i, s in enumerate(seqs)])
    return out


def ranking(rows, scores):
    """Overall ranking and ranking by the wrong step's kind."""
    won, total = collections.Counter(), collections.Counter()
    for r, sc in zip(rows, scores):
        chain = chain_steps.chain_after(r['problem'], len(r['prefix']))
        right = [s for s, lab in zip(sc, r['labels']) if lab]
        for step, s, lab in zip(r['steps'], sc, r['labels']):
            if lab:
                continue
            kind = chain_steps.error_kind(chain, step)
            for a in right:
                w = 1.0 if a > s else 0.5 if a == s else 0.0
                for k in ('all', kind):
                    won[k] += w
                    total[k] += 1
    return {k: (won[k] / total[k], total[k]) for k in total}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--prm', default='bundled:arith-prm')
    ap.add_argument('--siblings', default='siblings-val.jsonl')
    args = ap.parse_args()
    setup(0)
    vocab = Vocab()
    prm = load_model(Qwen2ForPrmModel, args.prm)
    rows = [r for r in read_jsonl(os.path.join(WORK, args.siblings)) if any(r['labels']) and not all(r['labels'])]
    result = ranking(rows, score_steps(prm, vocab, rows))
    print(f'sibling ranking {result["all"][0]:.4f} over {result["all"][1]} (right, wrong) pairs in {len(rows)} contested groups')
    for k, (v, n) in sorted(result.items()):
        if k != 'all':
            print(f'  wrong {k}: {v:.4f} ({n} pairs)')


if __name__ == '__main__':
    main()
