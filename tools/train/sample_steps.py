"""Samples from a generator checkpoint, labelled exactly (chain_steps.py):
- `solutions`: K whole solutions per problem -> {problem, answer, steps, labels} (the verifier's training
  data, and pass@K / greedy figures);
- `siblings`: at every prefix of right steps of each problem, K sampled next steps -> {problem, prefix,
  steps, labels} (what beam search asks the verifier to rank: same prefix, some right, some wrong).
Usage: /usr/bin/python3 tools/train/sample_steps.py solutions|siblings --model generator-step400.pt
       --split train|validation|test [--first F] [--problems N] [--k 8] [--temperature 1.0] --out FILE"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import chain_steps  # noqa: E402
from bundled import load_model  # noqa: E402
from common import ROOT, STEP_SEPARATOR, WORK, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2ForCausalLM  # noqa: E402
from sampling import generate  # noqa: E402


def split_path(split):
    return os.path.join(WORK, 'arith-train.jsonl') if split == 'train' else os.path.join(ROOT, 'data', f'arith-{split}.jsonl')


def texts_of(vocab, outs):
    return [vocab.decode([t for t in o if t != vocab.im_end]) for o in outs]


def sample_solutions(model, vocab, problems, k, temperature, rng):
    prompts = [t[0] for t in tokenize([[chat_prompt(p['problem'])] for p in problems])]
    outs = generate(model, prompts, 240, temperature, {vocab.im_end}, rng=rng, copies=k)
    rows = []
    for i, text in enumerate(texts_of(vocab, outs)):
        p = problems[i // k]
        steps = [s for s in text.split(STEP_SEPARATOR) if s.strip()]
        rows.append({'problem': p['problem'], 'answer': p['answer'], 'steps': steps,
                     'labels': chain_steps.step_labels(p['problem'], steps)})
    return rows


def sample_siblings(model, vocab, problems, k, temperature, rng):
    items = []
    for p in problems:
        ref = chain_steps.reference_steps(chain_steps.problem_chain(p['problem']))
        for n in range(len(ref)):
            items.append((p, ref[:n], chat_prompt(p['problem']) + ''.join(s + STEP_SEPARATOR for s in ref[:n])))
    prompts = [t[0] for t in tokenize([[text] for _, _, text in items])]
    outs = generate(model, prompts, 60, temperature, {vocab.im_end, vocab.sep}, rng=rng, copies=k)
    rows = []
    for j, (p, prefix, _) in enumerate(items):
        steps = [s.strip() for s in texts_of(vocab, outs[j * k:(j + 1) * k])]
        steps = [s.replace('\n', '') for s in steps]
        right = chain_steps.reference_steps(chain_steps.problem_chain(p['problem']))[len(prefix)]
        rows.append({'problem': p['problem'], 'prefix': prefix, 'steps': steps, 'labels': [s == right for s in steps]})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['solutions', 'siblings'])
    ap.add_argument('--model', required=True, help='checkpoint in tools/train/.work, or bundled:arith-generator')
    ap.add_argument('--split', default='validation')
    ap.add_argument('--first', type=int, default=0)
    ap.add_argument('--problems', type=int, default=140)
    ap.add_argument('--k', type=int, default=8)
    ap.add_argument('--temperature', type=float, default=1.0)
    ap.add_argument('--seed', type=int, default=5)
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    setup(args.seed)
    vocab = Vocab()
    model = load_model(Qwen2ForCausalLM, args.model)
    problems = read_jsonl(split_path(args.split))[args.first:args.first + args.problems]
    rng = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    fn = sample_solutions if args.mode == 'solutions' else sample_siblings
    rows = fn(model, vocab, problems, args.k, args.temperature, rng)
    with open(args.out if os.path.isabs(args.out) else os.path.join(WORK, args.out), 'w') as f:
        for r in rows:
            f.write(json.dumps(r) + '\n')
    if args.mode == 'solutions':
        solved = [all(r['labels']) and len(r['labels']) > 0 and r['steps'][-1].startswith('The answer') for r in rows]
        per = [any(solved[i:i + args.k]) for i in range(0, len(rows), args.k)]
        first = [solved[i] for i in range(0, len(rows), args.k)]
        print(f'{len(rows)} solutions in {time.time() - t0:.0f}s: sample accuracy {sum(solved) / len(solved):.3f}, '
              f'first-sample {sum(first) / len(first):.3f}, pass@{args.k} {sum(per) / len(per):.3f}', flush=True)
    else:
        contested = [r for r in rows if any(r['labels']) and not all(r['labels'])]
        print(f'{len(rows)} prefixes in {time.time() - t0:.0f}s; {len(contested)} contested', flush=True)


if __name__ == '__main__':
    main()
