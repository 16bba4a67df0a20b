"""PyTorch-side accuracy of the trained pair on the committed test split (not the engine's measurement):
greedy, majority@n, best-of-n (PRM, last-step score) and PRM beam search (n beams, beam width 4, one
"\n\n" step per iteration, temperature 0.8), per difficulty. Writes tools/train/curves/eval.json.
Usage: /usr/bin/python3 tools/train/evaluate.py [--per-level 40] [--n 16]"""
import argparse
import collections
import json
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import CURVES, ROOT, STEP_SEPARATOR, Vocab, chat_prompt, prm_prefix, read_jsonl, setup, tokenize  # noqa: E402
from bundled import load_model  # noqa: E402
from model import Qwen2ForCausalLM, Qwen2ForPrmModel  # noqa: E402
from sampling import generate  # noqa: E402
from step_beam_search import beam_search  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--seed', type=int, default=77)
ap.add_argument('--per-level', type=int, default=30)
ap.add_argument('--n', type=int, default=16)
ap.add_argument('--beam-width', type=int, default=4)
ap.add_argument('--max-iterations', type=int, default=12)
ap.add_argument('--temperature', type=float, default=0.8)
args = ap.parse_args()
setup(args.seed)
vocab = Vocab()
rng = torch.Generator().manual_seed(args.seed)


gen = load_model(Qwen2ForCausalLM, 'generator.pt')
prm = load_model(Qwen2ForPrmModel, 'prm.pt')
test = read_jsonl(os.path.join(ROOT, 'data', 'arith-test.jsonl'))
by_level = collections.defaultdict(list)
for p in test:
    by_level[p['difficulty']].append(p)
subset = [p for lv in sorted(by_level) for p in by_level[lv][:args.per_level]]
prompt_ids = {p['id']: ids[0] for p, ids in zip(test, tokenize([[chat_prompt(p['problem'])] for p in test]))}


def answer_of(text):
    m = re.findall(r'\\boxed\{([^}]*)\}', text)
    return m[-1].strip() if m else None


def steps_of(text):
    return [s for s in text.replace(vocab.decode([vocab.im_end]), '').split(STEP_SEPARATOR) if s.strip()]


@torch.no_grad()
def prm_last_scores(items):
    """items: (problem, steps) -> score of the last step (sigmoid of the value head at its separator)."""
    toks = tokenize([[prm_prefix(pr)] + st for pr, st in items])
    seqs = []
    for t in toks:
        ids = list(t[0])
        for s in t[1:]:
            ids += s + [vocab.prm_sep]
        seqs.append(ids)
    out = []
    for s in range(0, len(seqs), 128):
        chunk = seqs[s:s + 128]
        T = max(len(x) for x in chunk)
        ids = torch.zeros(len(chunk), T, dtype=torch.long)
        for r, x in enumerate(chunk):
            ids[r, :len(x)] = torch.tensor(x)
        v = torch.sigmoid(prm(ids))
        out += [float(v[r, len(x) - 1]) for r, x in enumerate(chunk)]
    return out


def accuracy(problems, answers):
    per = collections.defaultdict(list)
    for p, a in zip(problems, answers):
        per[p['difficulty']].append(a == p['answer'])
    total = sum(sum(v) for v in per.values()) / len(problems)
    return {'accuracy': round(total, 4), 'by_difficulty': {lv: round(sum(v) / len(v), 4) for lv, v in sorted(per.items())}}


results = {'label': 'PyTorch, not the engine', 'test_problems_subset': len(subset), 'n': args.n}

t0 = time.time()
greedy_out = generate(gen, [prompt_ids[p['id']] for p in test], 220, 0.0, {vocab.im_end})
results['greedy_full_test'] = accuracy(test, [answer_of(vocab.decode(o)) for o in greedy_out])
results['greedy'] = accuracy(subset, [answer_of(vocab.decode(greedy_out[test.index(p)])) for p in subset])
print('greedy', results['greedy_full_test'], f'{time.time() - t0:.0f}s', flush=True)

t0 = time.time()
samples = generate(gen, [prompt_ids[p['id']] for p in subset], 220, args.temperature, {vocab.im_end}, rng, copies=args.n)
texts = [vocab.decode(o) for o in samples]
maj, bon = [], []
scores = prm_last_scores([(subset[i // args.n]['problem'], steps_of(t)) for i, t in enumerate(texts)])
for i, p in enumerate(subset):
    group = list(zip(texts[i * args.n:(i + 1) * args.n], scores[i * args.n:(i + 1) * args.n]))
    votes = collections.Counter(a for a in (answer_of(t) for t, _ in group) if a is not None)
    maj.append(votes.most_common(1)[0][0] if votes else None)
    bon.append(answer_of(max(group, key=lambda g: g[1])[0]))
results[f'majority@{args.n}'] = accuracy(subset, maj)
results[f'best_of_{args.n}'] = accuracy(subset, bon)
results[f'sample_accuracy_t{args.temperature}'] = accuracy([subset[i // args.n] for i in range(len(texts))], [answer_of(t) for t in texts])
print('majority', results[f'majority@{args.n}'], 'best-of', results[f'best_of_{args.n}'], f'{time.time() - t0:.0f}s', flush=True)


def beam_search_answers(problems):
    score = lambda cands: prm_last_scores([(problems[pi]['problem'], steps_of(vocab.decode(ids))) for pi, ids, _ in cands])
    return beam_search(gen, vocab, [prompt_ids[p['id']] for p in problems], score, args.n, args.beam_width,
                       args.max_iterations, args.temperature, rng)


t0 = time.time()
results[f'beam_search_n{args.n}'] = accuracy(subset, beam_search_answers(subset))
print('beam', results[f'beam_search_n{args.n}'], f'{time.time() - t0:.0f}s', flush=True)
os.makedirs(CURVES, exist_ok=True)
with open(os.path.join(CURVES, 'eval.json'), 'w') as f:
    json.dump(results, f, indent=1)
print(json.dumps(results, indent=1))
