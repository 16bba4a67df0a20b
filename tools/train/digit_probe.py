"""How often a model's next-token prediction is the right result digit of a reference step (the digits after
"= "), read in the generator's ChatML format and in the Skywork PRM input format. A PRM backbone that starts
from the generator can only check a step's result if it can still compute it in the format the PRM reads.
Usage: /usr/bin/python3 tools/train/digit_probe.py [model spec: a .work checkpoint or bundled:<dir>] [--problems 150]"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from bundled import load_model  # noqa: E402
from common import ROOT, STEP_SEPARATOR, Vocab, chat_prompt, prm_input, prm_prefix, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2ForCausalLM  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('model', nargs='?', default='bundled:arith-generator')
ap.add_argument('--problems', type=int, default=150, help='first validation problems')
args = ap.parse_args()
setup(1)
vocab = Vocab()
model = load_model(Qwen2ForCausalLM, args.model)
problems = read_jsonl(os.path.join(ROOT, 'data', 'arith-validation.jsonl'))[:args.problems]
DIGITS = {i for i, t in vocab.id_to_token.items() if len(t) == 1 and t.isdigit()}
EQUALS = {i for i, t in vocab.id_to_token.items() if t == 'Ġ='}
SPACE = next(i for i, t in vocab.id_to_token.items() if t == 'Ġ')


@torch.no_grad()
def result_digit_accuracy(sequences):
    """Top-1 accuracy of the prediction of each digit that follows "= " (the token pair Ġ= Ġ)."""
    hit = total = 0
    for ids in sequences:
        pred = model(torch.tensor([ids]))[0].argmax(-1).tolist()
        for t in range(len(ids) - 2):
            if ids[t] in EQUALS and ids[t + 1] == SPACE:
                u = t + 2
                while u < len(ids) and ids[u] in DIGITS:
                    hit += pred[u - 1] == ids[u]
                    total += 1
                    u += 1
    return hit / total, total


chat = [t[0] for t in tokenize([[chat_prompt(p['problem']) + p['solution']] for p in problems])]
prm = [prm_input(t, vocab.prm_sep) for t in tokenize([[prm_prefix(p['problem'])] + p['solution'].split(STEP_SEPARATOR) for p in problems])]
for name, seqs in (('ChatML (generator)', chat), ('Skywork PRM input', prm)):
    acc, n = result_digit_accuracy(seqs)
    print(f'{args.model}, {name}: result digits predicted right {100 * acc:.1f}% of {n}')
