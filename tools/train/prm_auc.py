"""Step-level ROC AUC of the trained PRM (PyTorch, not the engine) on the committed held-out labelled steps
(data/prm-heldout.jsonl): over all steps, good steps vs the first wrong step of each solution (the hard
case: catching the error where it happens), good vs the steps after it, and over final-answer steps.
Usage: /usr/bin/python3 tools/train/prm_auc.py"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import ROOT, WORK, Vocab, prm_prefix, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2Config, Qwen2ForPrmModel  # noqa: E402

setup(0)
vocab = Vocab()
ck = torch.load(os.path.join(WORK, 'prm.pt'))
prm = Qwen2ForPrmModel(Qwen2Config(**ck['config']))
prm.load_state_dict(ck['state'])
prm.eval()
records = read_jsonl(os.path.join(ROOT, 'data', 'prm-heldout.jsonl'))
good, first_bad, later_bad, final_good, final_bad = [], [], [], [], []
with torch.no_grad():
    for r, t in zip(records, tokenize([[prm_prefix(r['problem'])] + r['steps'] for r in records])):
        ids, pos = list(t[0]), []
        for s in t[1:]:
            ids += s + [vocab.prm_sep]
            pos.append(len(ids) - 1)
        if not pos:
            continue
        scores = torch.sigmoid(prm(torch.tensor([ids]))[0])[pos].tolist()
        seen_bad = False
        for s, label in zip(scores, r['labels']):
            if label:
                good.append(s)
            else:
                (later_bad if seen_bad else first_bad).append(s)
                seen_bad = True
        if r['steps'][-1].startswith('The answer'):
            (final_good if r['labels'][-1] else final_bad).append(scores[-1])


def auc(pos, neg):
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float((p > n).mean() + 0.5 * (p == n).mean())


print(f'held-out: {len(good)} good steps, {len(first_bad)} first wrong steps, {len(later_bad)} steps after an error')
print(f'AUC all steps {auc(good, first_bad + later_bad):.3f}; good vs first wrong step {auc(good, first_bad):.3f}; '
      f'good vs after an error {auc(good, later_bad):.3f}; final answers {auc(final_good, final_bad):.3f} '
      f'({len(final_good)} right, {len(final_bad)} wrong)')
