"""How well a scorer ranks sibling steps (same prefix, some next steps right and some wrong: what beam search
asks of the verifier), split by what is wrong with the wrong sibling (label_steps.next_step_kind): a wrong
result, or wrong operands. Scorers: the PRM's score at the step's separator, and the generator's own mean
log-probability of the step's tokens (what the generator already knows). Reads the contested groups that
sample_siblings.py writes (--keep-agreeing 0).
Usage: /usr/bin/python3 tools/train/sibling_report.py --siblings prm-siblings-heldout.jsonl [--prm bundled:arith-prm]"""
import argparse
import collections
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from bundled import load_model  # noqa: E402
from common import STEP_SEPARATOR, WORK, Vocab, chat_prompt, prm_prefix, read_jsonl, setup, tokenize  # noqa: E402
from label_steps import next_step_kind  # noqa: E402
from model import Qwen2ForCausalLM, Qwen2ForPrmModel  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--siblings', required=True, help='file in tools/train/.work from sample_siblings.py')
ap.add_argument('--generator', default='bundled:arith-generator')
ap.add_argument('--prm', default='bundled:arith-prm')
args = ap.parse_args()
setup(1)
vocab = Vocab()
generator = load_model(Qwen2ForCausalLM, args.generator)
prm = load_model(Qwen2ForPrmModel, args.prm)
records = read_jsonl(os.path.join(WORK, args.siblings))


@torch.no_grad()
def prm_scores():
    out = []
    for t in tokenize([[prm_prefix(r['problem'])] + r['steps'] for r in records]):
        ids = list(t[0])
        for step in t[1:]:
            ids += step + [vocab.prm_sep]
        out.append(float(torch.sigmoid(prm(torch.tensor([ids]))[0, -1])))
    return out


@torch.no_grad()
def likelihood_scores():
    texts = [[chat_prompt(r['problem']) + ''.join(s + STEP_SEPARATOR for s in r['steps'][:-1]), r['steps'][-1] + STEP_SEPARATOR] for r in records]
    out = []
    for prefix, step in tokenize(texts):
        ids = torch.tensor([prefix + step])
        logp = F.log_softmax(generator(ids)[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
        out.append(float(logp[len(prefix) - 1:].mean()))
    return out


def pair_accuracy(scores):
    """Per kind of wrong sibling: the fraction of (right, wrong) pairs ordered right (ties half), and the count."""
    groups = collections.defaultdict(list)
    for r, s in zip(records, scores):
        groups[(r['problem'], len(r['steps']))].append((r, s))
    wins, pairs = collections.Counter(), collections.Counter()
    for group in groups.values():
        right = [s for r, s in group if r['labels'][-1]]
        for r, s in group:
            if r['labels'][-1]:
                continue
            kind = next_step_kind(r['problem'], r['steps'])
            for a in right:
                wins[kind] += 1.0 if a > s else 0.5 if a == s else 0.0
                pairs[kind] += 1
    table = {k: f'{wins[k] / pairs[k]:.3f} ({pairs[k]} pairs)' for k in sorted(pairs)}
    return f'{sum(wins.values()) / max(1, sum(pairs.values())):.3f}', table


for name, scores in (('PRM ' + args.prm, prm_scores()), ('generator log-prob ' + args.generator, likelihood_scores())):
    total, table = pair_accuracy(scores)
    print(f'{name}: all {total}; by wrong sibling: {table}', flush=True)
