"""Greedy accuracy of a generator checkpoint per difficulty level, on validation problems, with the first
wrong step of a few failures: a quick look at a run while it trains (PyTorch, not the engine).
Usage: /usr/bin/python3 tools/train/greedy_check.py [--checkpoint generator.pt] [--per-level 20]"""
import argparse
import collections
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import ROOT, STEP_SEPARATOR, WORK, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from label_steps import label_steps  # noqa: E402
from model import Qwen2Config, Qwen2ForCausalLM  # noqa: E402
from sampling import generate  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--checkpoint', default='generator.pt', help='file in tools/train/.work')
ap.add_argument('--per-level', type=int, default=20)
ap.add_argument('--temperature', type=float, default=0.0)
ap.add_argument('--show', type=int, default=6, help='failures to print')
args = ap.parse_args()
setup(5)
vocab = Vocab()
ck = torch.load(os.path.join(WORK, args.checkpoint))
model = Qwen2ForCausalLM(Qwen2Config(**ck['config']))
model.load_state_dict(ck['state'])
model.eval()

by_level = collections.defaultdict(list)
for p in read_jsonl(os.environ.get('VALIDATION', os.path.join(ROOT, 'data', 'arith-validation.jsonl'))):
    by_level[p['difficulty']].append(p)
problems = [p for lv in sorted(by_level) for p in by_level[lv][:args.per_level]]
prompts = [t[0] for t in tokenize([[chat_prompt(p['problem'])] for p in problems])]
outs = generate(model, prompts, 220, args.temperature, {vocab.im_end}, torch.Generator().manual_seed(5))
right, steps_ok, steps_all, shown = collections.Counter(), 0, 0, 0
for p, o in zip(problems, outs):
    text = vocab.decode([i for i in o if i != vocab.im_end])
    m = re.findall(r'\\boxed\{([^}]*)\}', text)
    ok = bool(m) and m[-1] == p['answer']
    right[p['difficulty']] += ok
    steps = [s for s in text.split(STEP_SEPARATOR) if s.strip()]
    labels = label_steps(p['problem'], steps)
    steps_ok += sum(labels)
    steps_all += len(labels)
    if not ok and shown < args.show:
        bad = next((i for i, good in enumerate(labels) if not good), None)
        print(f'  L{p["difficulty"]} {p["problem"]}\n    first bad step {bad}: {steps[bad] if bad is not None else "-"!r}')
        shown += 1
levels = sorted(by_level)
print(' '.join(f'L{lv} {right[lv] / args.per_level:.2f}' for lv in levels),
      f'| all {sum(right.values()) / len(problems):.3f} | good steps {steps_ok / max(1, steps_all):.3f}')
