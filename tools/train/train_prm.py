"""Trains the bundled PRM (Qwen2ForPrmModel, Skywork-style value head) on the generator's own solutions:
samples K solutions per problem at temperature 0.8, labels each step automatically (label_steps.py), and
fine-tunes generator-initialised weights with a binary cross-entropy at every step-separator token.
With --write-heldout also writes data/prm-heldout.jsonl (labelled steps of validation problems) for the engine's AUC check.
With --heldout-siblings it also measures how often the PRM orders a right next step above a wrong sibling
(sample_siblings.py), the ranking beam search relies on. --init-from, --siblings and --digit-weight run the
second-stage experiment described in tools/train/README.md (not used for the bundled PRM).
Logs tools/train/curves/prm.csv.  Usage: /usr/bin/python3 tools/train/train_prm.py"""
import argparse
import csv
import json
import math
import os
import random
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from bundled import load_model  # noqa: E402
from common import CURVES, ROOT, STEP_SEPARATOR, WORK, Vocab, chat_prompt, prm_prefix, read_jsonl, setup, tokenize  # noqa: E402
from label_steps import label_steps, result_digit_labels  # noqa: E402
from model import Qwen2Config, Qwen2ForCausalLM, Qwen2ForPrmModel, param_count  # noqa: E402
from sampling import generate  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--seed', type=int, default=4321)
ap.add_argument('--problems', type=int, default=4000)
ap.add_argument('--samples', type=int, default=6)
ap.add_argument('--heldout-problems', type=int, default=140)
ap.add_argument('--epochs', type=int, default=1)
ap.add_argument('--batch', type=int, default=32)
ap.add_argument('--lr', type=float, default=1e-3)
ap.add_argument('--first-train-index', type=int, default=200000, help='train-split problems the generator never saw (it trained on the first 5000 x 32)')
ap.add_argument('--synthetic', type=int, default=0, help='reference solutions with one corrupted step, added to the samples (experiment: 8000 did not train in 350 steps)')
ap.add_argument('--init-from', default=None, help='a PRM checkpoint in tools/train/.work to fine-tune (default: start from the generator)')
ap.add_argument('--siblings', nargs='*', default=[], help='sibling-step files from sample_siblings.py in tools/train/.work, added to the samples')
ap.add_argument('--heldout-siblings', default=None, help='contested sibling groups (sample_siblings.py on validation problems) for the pairwise metric')
ap.add_argument('--max-samples', type=int, default=None, help='use only the first N sampled solutions (with --siblings: keep the mix short)')
ap.add_argument('--result-pairs', type=int, default=0,
                help='reference-solution prefixes ending in one step written twice, with its right result and a wrong one, labelled at that step only')
ap.add_argument('--extra-layers', type=int, default=0,
                help='decoder layers stacked on the generator-initialised backbone (their outputs start at zero, so the PRM starts as the generator): room to compare what the generator predicts with what a step wrote')
ap.add_argument('--write-heldout', action='store_true',
                help='also write the held-out labelled steps to data/prm-heldout.jsonl (the engine AUC check; train_all.sh does, experiments do not)')
ap.add_argument('--generator', default='generator.pt', help='the generator whose samples are labelled (a .work checkpoint or bundled:<dir>)')
ap.add_argument('--backbone', default=None, help='where the PRM backbone starts (default: the generator); may be a stronger model of the same shape')
ap.add_argument('--samples-cache', default='prm', help='name prefix of the sampled-solution caches in .work (one per generator)')
ap.add_argument('--heldout-pairs', type=int, default=0, help='also measure the pairwise ranking on result pairs of this many validation problems (the arithmetic check alone)')
ap.add_argument('--out', default='prm.pt')
ap.add_argument('--curve', default='prm.csv')
ap.add_argument('--digit-weight', type=float, default=0.0,
                help='weight of an extra loss on the value head at every result digit (result_digit_labels); 0: off')
args = ap.parse_args()
setup(args.seed)
vocab = Vocab()
rng = torch.Generator().manual_seed(args.seed)

generator = load_model(Qwen2ForCausalLM, args.generator)
backbone = load_model(Qwen2ForCausalLM, args.backbone) if args.backbone else generator
config = backbone.config


def split_steps(ids):
    text = vocab.decode([i for i in ids if i != vocab.im_end])
    return [s for s in text.split(STEP_SEPARATOR) if s.strip()]


def sample_labelled(problems, k, cache_name):
    """k sampled solutions per problem (temperature 0.8), split into steps and labelled."""
    path = os.path.join(WORK, cache_name)
    if os.path.exists(path):
        return read_jsonl(path)
    t0 = time.time()
    problems = sorted(problems, key=lambda p: p['difficulty'])  # similar lengths share a batch
    prompts = [p[0] for p in tokenize([[chat_prompt(p['problem'])] for p in problems])]
    outs = generate(generator, prompts, 220, 0.8, {vocab.im_end}, rng, copies=k)
    records = []
    for i, o in enumerate(outs):
        p = problems[i // k]
        steps = split_steps(o)
        records.append({'id': p['id'], 'problem': p['problem'], 'answer': p['answer'], 'difficulty': p['difficulty'],
                        'steps': steps, 'labels': label_steps(p['problem'], steps)})
    with open(path, 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')
    print(f'sampled {len(records)} solutions in {time.time() - t0:.0f}s', flush=True)
    return records


def corrupt_number(c, r):
    while True:
        kind = r.random()
        if kind < 0.4:
            d = r.choice([1, 1, 2, 3, 10])
        elif kind < 0.8:
            d = r.randint(1, 9) * 10 ** r.randint(0, max(0, len(str(c)) - 1))
        else:
            d = r.randint(1, max(2, c))
        out = c + d if r.random() < 0.5 else c - d
        if out >= 0 and out != c:
            return out


def synthetic_records(problems, seed):
    """Reference solutions, half kept whole (all steps good), half cut after one corrupted step: a wrong
    result, a wrong operand (with the arithmetic done right on it), or a wrong final answer. These teach
    the PRM to check the arithmetic itself, which the generator's own samples alone did not."""
    r = random.Random(seed)
    out = []
    for p in problems:
        steps = p['solution'].split(STEP_SEPARATOR)
        if r.random() < 0.5:
            out.append({'problem': p['problem'], 'steps': steps, 'labels': [True] * len(steps)})
            continue
        k = r.randrange(len(steps))
        m = re.match(r'^(\d+) ([-+*/]) (\d+) = (\d+)$', steps[k])
        if m is None:  # the final step: a wrong boxed answer
            bad = f'The answer is \\boxed{{{corrupt_number(int(p["answer"]), r)}}}.'
        elif r.random() < 0.7:
            bad = f'{m[1]} {m[2]} {m[3]} = {corrupt_number(int(m[4]), r)}'
        else:
            a = corrupt_number(int(m[1]), r)
            b = int(m[3])
            val = a + b if m[2] == '+' else a - b if m[2] == '-' else a * b if m[2] == '*' else a // b
            bad = f'{a} {m[2]} {m[3]} = {val}'
        steps = steps[:k] + [bad]
        out.append({'problem': p['problem'], 'steps': steps, 'labels': label_steps(p['problem'], steps)})
    return out


def result_pair_records(problems, seed):
    """Per problem, two records sharing a reference prefix: the next reference step, and the same step with a
    wrong result (the generator's commonest mistake, 72% of its wrong sibling steps). The contrast beam search
    needs: only the result differs, so only checking the arithmetic separates them."""
    r = random.Random(seed)
    out = []
    for p in problems:
        steps = p['solution'].split(STEP_SEPARATOR)
        k = r.randrange(len(steps))
        m = re.match(r'^(\d+) ([-+*/]) (\d+) = (\d+)$', steps[k])
        bad = (f'{m[1]} {m[2]} {m[3]} = {corrupt_number(int(m[4]), r)}' if m else
               f'The answer is \\boxed{{{corrupt_number(int(p["answer"]), r)}}}.')
        for last in (steps[k], bad):
            out.append({'problem': p['problem'], 'steps': steps[:k] + [last], 'labels': label_steps(p['problem'], steps[:k] + [last])})
    return out


DIGIT_IDS = {i for i, t in vocab.id_to_token.items() if len(t) == 1 and t.isdigit()}


def digit_positions(step_ids, n_digits, final):
    """Where a step's result digits sit in its own ids (the boxed number's, before "}.", for the final step);
    None when those ids are not n_digits digit tokens."""
    end = len(step_ids) - (1 if final else 0)
    span = list(range(end - n_digits, end))
    ok = n_digits > 0 and span[0] >= 0 and all(step_ids[i] in DIGIT_IDS for i in span)
    return span if ok else None


def encode(records, last_only=False, digit_weight=0.0):
    """PRM sequences: prefix ids, then per step its ids + the separator; targets at the separators (at the
    last one only with last_only: a sibling record's earlier steps are the reference's, right by construction).
    With digit_weight > 0, also targets at the result digits of the same steps, with that weight."""
    toks = tokenize([[prm_prefix(r['problem'])] + r['steps'] for r in records])
    out = []
    for r, t in zip(records, toks):
        ids, pos, ys, ws = list(t[0]), [], [], []
        digits = result_digit_labels(r['problem'], r['steps']) if digit_weight > 0 else [[] for _ in r['steps']]
        for k, step_ids in enumerate(t[1:]):
            start = len(ids)
            ids += step_ids + [vocab.prm_sep]
            if last_only and k < len(r['steps']) - 1:
                continue
            span = digit_positions(step_ids, len(digits[k]), r['steps'][k].startswith('The answer')) if digits[k] else None
            if span:
                pos += [start + i for i in span]
                ys += [float(x) for x in digits[k]]
                ws += [digit_weight] * len(span)
            pos.append(len(ids) - 1)
            ys.append(float(r['labels'][k]))
            ws.append(1.0)
        out.append((ids, pos, ys, ws))
    return out


def roc_auc(scores, labels):
    s, y = np.asarray(scores), np.asarray(labels, dtype=bool)
    order = np.argsort(s, kind='mergesort')
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    npos, nneg = y.sum(), (~y).sum()
    return float((ranks[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def collate(exs):
    T = max(len(e[0]) for e in exs)
    ids = torch.zeros(len(exs), T, dtype=torch.long)
    rows, cols, ys, ws = [], [], [], []
    for r, (seq, pos, lab, wt) in enumerate(exs):
        ids[r, :len(seq)] = torch.tensor(seq)
        rows += [r] * len(pos)
        cols += pos
        ys += lab
        ws += wt
    return ids, torch.tensor(rows), torch.tensor(cols), torch.tensor(ys), torch.tensor(ws)


@torch.no_grad()
def step_scores(prm, exs):
    prm.eval()
    scores, labels = [], []
    for s in range(0, len(exs), 64):
        ids, rows, cols, ys, _ = collate(exs[s:s + 64])
        scores += torch.sigmoid(prm(ids)[rows, cols]).tolist()
        labels += ys.tolist()
    prm.train()
    return scores, labels


train_split = read_jsonl(os.path.join(WORK, 'arith-train.jsonl'))
train_problems = train_split[args.first_train_index:args.first_train_index + args.problems]
val_problems = read_jsonl(os.path.join(ROOT, 'data', 'arith-validation.jsonl'))[350:350 + args.heldout_problems]
train_records = sample_labelled(train_problems, args.samples, f'{args.samples_cache}-train-samples.jsonl')
heldout_records = sample_labelled(val_problems, args.samples, f'{args.samples_cache}-heldout-samples.jsonl')
if args.write_heldout:
    with open(os.path.join(ROOT, 'data', 'prm-heldout.jsonl'), 'w') as f:
        for r in heldout_records:
            f.write(json.dumps(r) + '\n')
n_steps = sum(len(r['labels']) for r in train_records)
n_good = sum(sum(r['labels']) for r in train_records)
print(f'train steps {n_steps}, good {n_good / n_steps:.3f}; solutions correct '
      f'{np.mean([bool(r["labels"]) and r["labels"][-1] for r in train_records]):.3f}', flush=True)

synthetic = synthetic_records(train_split[args.first_train_index + args.problems:args.first_train_index + args.problems + args.synthetic], args.seed)
if synthetic:
    print(f'synthetic: {len(synthetic)} solutions, {sum(len(r["labels"]) for r in synthetic)} steps, '
          f'good {np.mean([x for r in synthetic for x in r["labels"]]):.3f}', flush=True)
if args.max_samples is not None:
    train_records = train_records[:args.max_samples]
pair_start = args.first_train_index + args.problems + args.synthetic
pair_records = result_pair_records(train_split[pair_start:pair_start + args.result_pairs], args.seed + 1)
if pair_records:
    print(f'result pairs: {len(pair_records)} steps, good {np.mean([r["labels"][-1] for r in pair_records]):.3f}', flush=True)
sibling_records = [r for name in args.siblings for r in read_jsonl(os.path.join(WORK, name))]
if sibling_records:
    print(f'siblings: {len(sibling_records)} steps, good {np.mean([r["labels"][-1] for r in sibling_records]):.3f}', flush=True)
train_ex = ([e for e in encode(train_records + synthetic, digit_weight=args.digit_weight) if e[1]]
            + encode(sibling_records + pair_records, last_only=True, digit_weight=args.digit_weight))
heldout_ex = [e for e in encode(heldout_records) if e[1]]
heldout_groups = []  # contested sibling groups: lists of (example, good?)
if args.heldout_siblings:
    records = read_jsonl(os.path.join(WORK, args.heldout_siblings))
    groups = {}
    for r, e in zip(records, encode(records, last_only=True)):  # one tokenizer call for all
        groups.setdefault((r['problem'], len(r['steps'])), []).append((e, r['labels'][-1]))
    heldout_groups = list(groups.values())
if args.heldout_pairs:  # each pair shares its prefix: a right last step and the same step with a wrong result
    records = result_pair_records(read_jsonl(os.path.join(ROOT, 'data', 'arith-validation.jsonl'))[:args.heldout_pairs], args.seed + 2)
    encoded = encode(records, last_only=True)
    heldout_groups += [[(encoded[i], records[i]['labels'][-1]), (encoded[i + 1], records[i + 1]['labels'][-1])] for i in range(0, len(records), 2)]


def sibling_pair_accuracy(prm):
    """Over contested sibling groups (same prefix, some next steps right and some wrong): the fraction of
    (right, wrong) pairs the PRM orders right, ties counting half. This is the ranking beam search uses."""
    if not heldout_groups:
        return None
    wins = pairs = 0.0
    for g in heldout_groups:
        scores, _ = step_scores(prm, [e for e, _ in g])
        good = [s for s, (_, ok) in zip(scores, g) if ok]
        bad = [s for s, (_, ok) in zip(scores, g) if not ok]
        for a in good:
            for b in bad:
                wins += 1.0 if a > b else 0.5 if a == b else 0.0
                pairs += 1
    return wins / pairs

if args.extra_layers:
    config = Qwen2Config(**{**config.to_dict(), 'num_hidden_layers': config.num_hidden_layers + args.extra_layers})
prm = Qwen2ForPrmModel(config)
if args.init_from:
    prm.load_state_dict(torch.load(os.path.join(WORK, args.init_from))['state'])
    print(f'from {args.init_from}: held-out step AUC {roc_auc(*step_scores(prm, heldout_ex)):.4f}, '
          f'sibling pairs {sibling_pair_accuracy(prm)}', flush=True)
else:
    missing = prm.model.load_state_dict(backbone.model.state_dict(), strict=False).missing_keys  # backbone starts from a generator
    for i in range(backbone.config.num_hidden_layers, config.num_hidden_layers):  # extra layers start as identities
        torch.nn.init.zeros_(prm.model.layers[i].self_attn.o_proj.weight)
        torch.nn.init.zeros_(prm.model.layers[i].mlp.down_proj.weight)
    assert all(k.startswith('layers.') and int(k.split('.')[1]) >= backbone.config.num_hidden_layers for k in missing), missing
    torch.nn.init.zeros_(prm.v_head.summary.weight)
    torch.nn.init.zeros_(prm.v_head.summary.bias)
print(f'prm: {param_count(prm)} parameters', flush=True)
opt = torch.optim.AdamW(prm.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
total = args.epochs * math.ceil(len(train_ex) / args.batch)
warmup = 50


def lr_at(step):
    if step < warmup:
        return args.lr * (step + 1) / warmup
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


os.makedirs(CURVES, exist_ok=True)
curve = open(os.path.join(CURVES, args.curve), 'w', newline='')
log = csv.writer(curve)
log.writerow(['step', 'epoch', 'lr', 'train_bce', 'heldout_auc', 'sibling_pairs', 'elapsed_s'])
shuffle = random.Random(args.seed)
step, running, start = 0, None, time.time()
for epoch in range(args.epochs):
    order = list(range(len(train_ex)))
    shuffle.shuffle(order)
    for s in range(0, len(order), args.batch):
        for g in opt.param_groups:
            g['lr'] = lr_at(step)
        ids, rows, cols, ys, ws = collate([train_ex[i] for i in order[s:s + args.batch]])
        loss = F.binary_cross_entropy_with_logits(prm(ids)[rows, cols], ys, weight=ws, reduction='sum') / ws.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prm.parameters(), 1.0)
        opt.step()
        step += 1
        running = float(loss) if running is None else 0.95 * running + 0.05 * float(loss)
        if step % 50 == 0 or step == total:
            evaluate = step % 200 == 0 or step == total
            auc = roc_auc(*step_scores(prm, heldout_ex)) if evaluate else None
            pairs = sibling_pair_accuracy(prm) if evaluate else None
            log.writerow([step, epoch, f'{lr_at(step):.6f}', f'{running:.4f}', '' if auc is None else f'{auc:.4f}',
                          '' if pairs is None else f'{pairs:.4f}', f'{time.time() - start:.0f}'])
            curve.flush()
            print(f'step {step}/{total} bce {running:.4f} auc {auc} sibling pairs {pairs} {time.time() - start:.0f}s', flush=True)
    torch.save({'config': config.to_dict(), 'state': prm.state_dict()}, os.path.join(WORK, args.out))
curve.close()
print(f'held-out step AUC (PyTorch) {roc_auc(*step_scores(prm, heldout_ex)):.4f}, sibling pairs {sibling_pair_accuracy(prm)}', flush=True)
