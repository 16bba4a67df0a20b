"""What search can reach with this generator, whatever the verifier (PyTorch, not the engine): on the first
--per-level test problems of each level, greedy accuracy, pass@n (some one of n full samples is right: the
ceiling of best-of-n and of majority for any verifier), and beam search (step_beam_search.py, as in
evaluate.py) with three step scorers on the same seed:
  prm         the PRM's score at the step's separator (what the engine does);
  likelihood  the generator's own mean token log-probability of the step;
  oracle      the exact label of chain_steps.py (a perfect verifier).
Usage: /usr/bin/python3 tools/train/search_ceiling.py [--per-level 20] [--n 16] [--scorers prm,likelihood,oracle]"""
import argparse
import collections
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from bundled import load_model  # noqa: E402
import chain_steps  # noqa: E402
from common import ROOT, STEP_SEPARATOR, Vocab, chat_prompt, prm_input, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2ForCausalLM, Qwen2ForPrmModel  # noqa: E402
from sampling import generate  # noqa: E402
from step_beam_search import beam_search, boxed_answer  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--seed', type=int, default=77)
ap.add_argument('--per-level', type=int, default=20)
ap.add_argument('--n', type=int, default=16)
ap.add_argument('--beam-width', type=int, default=4)
ap.add_argument('--max-iterations', type=int, default=12)
ap.add_argument('--temperature', type=float, default=1.0)
ap.add_argument('--filter-duplicates', action='store_true')
ap.add_argument('--scorers', default='prm,likelihood,oracle')
ap.add_argument('--generator', default='bundled:arith-generator')
ap.add_argument('--prm', default='bundled:arith-prm')
ap.add_argument('--split', default='test')
args = ap.parse_args()
setup(args.seed)
vocab = Vocab()
gen = load_model(Qwen2ForCausalLM, args.generator)
prm = load_model(Qwen2ForPrmModel, args.prm) if 'prm' in args.scorers else None
by_level = collections.defaultdict(list)
for p in read_jsonl(os.path.join(ROOT, 'data', f'arith-{args.split}.jsonl')):
    by_level[p['difficulty']].append(p)
problems = [p for lv in sorted(by_level) for p in by_level[lv][:args.per_level]]
prompts = [t[0] for t in tokenize([[chat_prompt(p['problem'])] for p in problems])]


def steps_of(ids):
    return [s for s in vocab.decode([i for i in ids if i != vocab.im_end]).split(STEP_SEPARATOR) if s.strip()]


def report(name, answers, seconds):
    per = collections.defaultdict(list)
    for p, a in zip(problems, answers):
        per[p['difficulty']].append(a == p['answer'])
    levels = ' '.join(f'{round(100 * sum(v) / len(v))}' for _, v in sorted(per.items()))
    print(f'{name}: {100 * sum(a == p["answer"] for p, a in zip(problems, answers)) / len(problems):.1f}% '
          f'(levels {levels}; {len(problems)} problems, {seconds:.0f} s)', flush=True)


@torch.no_grad()
def prm_scores(cands):
    # The bundled PRM reads the generator's own format: the chat prompt, each step followed by "\n\n".
    out = [prm_input(t, vocab.sep) for t in tokenize([[chat_prompt(problems[pi]['problem'])] + steps_of(ids) for pi, ids in cands])]
    return [float(torch.sigmoid(prm(torch.tensor([s]))[0, -1])) for s in out]


@torch.no_grad()
def likelihood_scores(cands, new_lengths):
    out = []
    for (pi, ids), k in zip(cands, new_lengths):
        seq = torch.tensor([prompts[pi] + ids])
        logp = F.log_softmax(gen(seq)[0, :-1], -1).gather(-1, seq[0, 1:, None])[:, 0]
        out.append(float(logp[-k:].mean()))
    return out


def oracle_scores(cands):
    return [float(all(chain_steps.step_labels(problems[pi]['problem'], steps_of(ids)) or [False])) for pi, ids in cands]


def beam(scorer):
    score = {'prm': lambda c: prm_scores([(pi, ids) for pi, ids, _ in c]),
             'oracle': lambda c: oracle_scores([(pi, ids) for pi, ids, _ in c]),
             'likelihood': lambda c: likelihood_scores([(pi, ids) for pi, ids, _ in c], [k for _, _, k in c])}[scorer]
    rng = torch.Generator().manual_seed(args.seed)  # the same samples' start for every scorer
    return beam_search(gen, vocab, prompts, score, args.n, args.beam_width, args.max_iterations, args.temperature, rng, args.filter_duplicates)


t0 = time.time()
report('greedy', [boxed_answer(vocab, o) for o in generate(gen, prompts, 240, 0.0, {vocab.im_end})], time.time() - t0)
t0 = time.time()
samples = generate(gen, prompts, 240, args.temperature, {vocab.im_end}, torch.Generator().manual_seed(args.seed), copies=args.n)
hits = [any(boxed_answer(vocab, o) == p['answer'] for o in samples[i * args.n:(i + 1) * args.n]) for i, p in enumerate(problems)]
report(f'pass@{args.n} at T = {args.temperature} (any verifier\'s ceiling for best-of-n)', [p['answer'] if h else None for p, h in zip(problems, hits)], time.time() - t0)
for scorer in args.scorers.split(','):
    t0 = time.time()
    report(f'beam search n = {args.n}, width {args.beam_width}, scorer {scorer}' + (', duplicates filtered' if args.filter_duplicates else ''), beam(scorer), time.time() - t0)
