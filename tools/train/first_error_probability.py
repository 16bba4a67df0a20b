"""At the first wrong step of each greedy solution (the first --per-level test problems of each level), the
generator's probability (T = 1) of the right step, any ready operation done right: how systematic its
mistakes are (a right step below 1/16 is rarely among 16 samples). PyTorch, the committed models.
Usage: /usr/bin/python3 tools/train/first_error_probability.py [--per-level 20]"""
import argparse
import collections
import math
import os
import statistics
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from bundled import load_model  # noqa: E402
from common import ROOT, STEP_SEPARATOR, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from label_steps import label_steps, right_next_steps  # noqa: E402
from model import Qwen2ForCausalLM  # noqa: E402
from sampling import generate  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--per-level', type=int, default=20)
args = ap.parse_args()
setup(5)
vocab = Vocab()
gen = load_model(Qwen2ForCausalLM, 'bundled:arith-generator')
by_level = collections.defaultdict(list)
for p in read_jsonl(os.path.join(ROOT, 'data', 'arith-test.jsonl')):
    by_level[p['difficulty']].append(p)
problems = [p for lv in sorted(by_level) for p in by_level[lv][:args.per_level]]
prompts = [t[0] for t in tokenize([[chat_prompt(p['problem'])] for p in problems])]


@torch.no_grad()
def step_logprob(prefix_ids, step_ids):
    ids = torch.tensor([prefix_ids + step_ids])
    logp = F.log_softmax(gen(ids)[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
    return float(logp[len(prefix_ids) - 1:].sum())


probabilities = []
for p, out in zip(problems, generate(gen, prompts, 220, 0.0, {vocab.im_end}, None)):
    steps = [s.strip() for s in vocab.decode([i for i in out if i != vocab.im_end]).split(STEP_SEPARATOR) if s.strip()]
    first_bad = next((i for i, ok in enumerate(label_steps(p['problem'], steps)) if not ok), None)
    if first_bad is None:
        continue
    prefix = chat_prompt(p['problem']) + ''.join(s + STEP_SEPARATOR for s in steps[:first_bad])
    pairs = tokenize([[prefix, r + STEP_SEPARATOR] for r in right_next_steps(p['problem'], steps[:first_bad])])
    probabilities.append(max(math.exp(step_logprob(pre, st)) for pre, st in pairs))
print(f'first wrong steps {len(probabilities)}; probability of a right step: median {statistics.median(probabilities):.4f}, '
      f'at least 1/16: {sum(x >= 1 / 16 for x in probabilities)}, below 1%: {sum(x < 0.01 for x in probabilities)}')
