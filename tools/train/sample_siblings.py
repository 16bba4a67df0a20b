"""Sibling steps for the PRM: what beam search asks the verifier to rank. For each problem and each prefix
of its reference solution (0 .. all-but-the-last steps), the generator samples K next steps at temperature
0.8, and each is labelled exactly (label_steps.py). A prefix whose siblings disagree (some right, some
wrong) keeps all K; one where they all agree keeps one sample with probability --keep-agreeing, so the
data is rich in the near misses ("23 + 7 = 20" next to "23 + 7 = 30") that whole-solution samples rarely
put side by side. Writes tools/train/.work/<out> (JSONL: problem, steps, labels).
Usage: /usr/bin/python3 tools/train/sample_siblings.py --first 204000 --problems 1500 --out prm-siblings-0.jsonl"""
import argparse
import json
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import ROOT, STEP_SEPARATOR, WORK, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from label_steps import label_steps  # noqa: E402
from model import Qwen2Config, Qwen2ForCausalLM  # noqa: E402
from sampling import generate  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--seed', type=int, default=5151)
ap.add_argument('--split', default='train', choices=['train', 'validation'])
ap.add_argument('--first', type=int, required=True, help='first problem of the split to use')
ap.add_argument('--problems', type=int, required=True)
ap.add_argument('--siblings', type=int, default=4)
ap.add_argument('--temperature', type=float, default=0.8)
ap.add_argument('--keep-agreeing', type=float, default=0.3)
ap.add_argument('--out', required=True)
args = ap.parse_args()
setup(args.seed)
vocab = Vocab()
rng = torch.Generator().manual_seed(args.seed)
keep_rng = random.Random(args.seed)

ckpt = torch.load(os.path.join(WORK, 'generator.pt'))
generator = Qwen2ForCausalLM(Qwen2Config(**ckpt['config']))
generator.load_state_dict(ckpt['state'])
generator.eval()

path = os.path.join(WORK, 'arith-train.jsonl') if args.split == 'train' else os.path.join(ROOT, 'data', 'arith-validation.jsonl')
problems = read_jsonl(path)[args.first:args.first + args.problems]
prefixes = []  # (problem, reference steps before the sampled one)
for p in problems:
    ref = p['solution'].split(STEP_SEPARATOR)
    for j in range(len(ref)):
        prefixes.append((p, ref[:j]))
prefixes.sort(key=lambda x: len(x[0]['problem']) + 12 * len(x[1]))  # similar lengths share a batch
texts = [chat_prompt(p['problem']) + ''.join(s + STEP_SEPARATOR for s in steps) for p, steps in prefixes]
t0 = time.time()
prompts = [t[0] for t in tokenize([[t] for t in texts])]
outs = generate(generator, prompts, 24, args.temperature, {vocab.sep, vocab.im_end}, rng, copies=args.siblings)
kept = contested = 0
with open(os.path.join(WORK, args.out), 'w') as f:
    for i, (p, steps) in enumerate(prefixes):
        group = []
        for o in outs[i * args.siblings:(i + 1) * args.siblings]:
            step = vocab.decode([t for t in o if t not in (vocab.sep, vocab.im_end)]).strip()
            labels = label_steps(p['problem'], steps + [step])
            group.append({'problem': p['problem'], 'steps': steps + [step], 'labels': labels})
        finals = {g['labels'][-1] for g in group}
        if len(finals) == 2:
            contested += 1
            chosen = group
        else:
            chosen = group[:1] if keep_rng.random() < args.keep_agreeing else []
        for g in chosen:
            f.write(json.dumps(g) + '\n')
            kept += 1
print(f'{len(prefixes)} prefixes x {args.siblings} siblings in {time.time() - t0:.0f}s; contested {contested} '
      f'({contested / len(prefixes):.3f}); kept {kept} sequences', flush=True)
