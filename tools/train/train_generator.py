"""Trains the bundled generator (Qwen2ForCausalLM) on the reference solutions of the arithmetic train split.
Loss on the assistant's tokens only. Logs tools/train/curves/generator.csv.
Usage: /usr/bin/python3 tools/train/train_generator.py [--steps N]"""
import argparse
import csv
import math
import os
import random
import re
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from common import CURVES, ROOT, WORK, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2Config, Qwen2ForCausalLM, init_weights, param_count  # noqa: E402
from sampling import generate  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--seed', type=int, default=1234)
ap.add_argument('--steps', type=int, default=2000, help='length of the learning-rate schedule')
ap.add_argument('--stop-after', type=int, default=None, help='stop (and keep that checkpoint) after this many steps')
ap.add_argument('--batch', type=int, default=32)
ap.add_argument('--lr', type=float, default=2e-3)
ap.add_argument('--threads', type=int, default=1, help='1: measured 4x faster than 2 on the shared, oversubscribed 2-core machine')
ap.add_argument('--hidden', type=int, default=192)
ap.add_argument('--intermediate', type=int, default=512)
ap.add_argument('--layers', type=int, default=4)
ap.add_argument('--warmup', type=int, default=100)
ap.add_argument('--init-from', default=None, help='start from this checkpoint (a second, annealing stage)')
ap.add_argument('--data-offset', type=int, default=0, help='first train-split problem to use')
ap.add_argument('--curve', default='generator.csv')
ap.add_argument('--out', default='generator.pt', help='checkpoint file in tools/train/.work')
ap.add_argument('--keep-every', type=int, default=0, help='also keep a checkpoint every N steps (generator-stepN.pt), to pick the shipped one')
args = ap.parse_args()
setup(args.seed, args.threads)
vocab = Vocab()

train = read_jsonl(os.path.join(WORK, 'arith-train.jsonl'))
last_step = min(args.steps, args.stop_after or args.steps)
needed = args.steps * args.batch
train = train[args.data_offset:args.data_offset + needed]


def chat_examples(problems):
    """(ids, prompt length) of ChatML prompt + reference solution + <|im_end|>: the loss covers the solution and the closing <|im_end|>."""
    out = []
    for prompt_ids, full_ids in tokenize([[chat_prompt(p['problem']), chat_prompt(p['problem']) + p['solution'] + '<|im_end|>'] for p in problems]):
        assert full_ids[:len(prompt_ids)] == prompt_ids
        out.append((full_ids, len(prompt_ids)))
    return out


def examples_of(problems):
    return chat_examples(problems)


t0 = time.time()
examples = examples_of(train)
print(f'{len(examples)} examples tokenized in {time.time() - t0:.0f}s; mean length {sum(len(e[0]) for e in examples) / len(examples):.0f}', flush=True)
val = read_jsonl(os.path.join(ROOT, 'data', 'arith-validation.jsonl'))
val_examples = examples_of(val[:320])  # the validation loss's examples


def batches(exs, batch, shuffle_rng):
    """Length-sorted within windows of 50 batches (less padding), batch order shuffled."""
    order = list(range(len(exs)))
    shuffle_rng.shuffle(order)
    out = []
    win = batch * 50
    for s in range(0, len(order), win):
        chunk = sorted(order[s:s + win], key=lambda i: len(exs[i][0]))
        out.extend(chunk[j:j + batch] for j in range(0, len(chunk), batch))
    shuffle_rng.shuffle(out)
    return out


def collate(exs, idx):
    T = max(len(exs[i][0]) for i in idx)
    ids = torch.zeros(len(idx), T, dtype=torch.long)
    tgt = torch.full((len(idx), T), -100, dtype=torch.long)
    for r, i in enumerate(idx):
        full, plen = exs[i]
        ids[r, :len(full)] = torch.tensor(full)
        tgt[r, plen - 1:len(full) - 1] = torch.tensor(full[plen:])
    return ids, tgt


def loss_of(model, ids, tgt):
    logits = model(ids)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100)


@torch.no_grad()
def val_loss(model):
    model.eval()
    tot, n = 0.0, 0
    for s in range(0, len(val_examples), 64):
        ids, tgt = collate(val_examples, list(range(s, s + 64)))
        tot += float(loss_of(model, ids, tgt)) * 64
        n += 64
    model.train()
    return tot / n


def greedy_accuracy(model, problems):
    model.eval()
    prompts = tokenize([[chat_prompt(p['problem'])] for p in problems])
    outs = generate(model, [p[0] for p in prompts], 200, 0.0, {vocab.im_end})
    correct = 0
    for p, o in zip(problems, outs):
        m = re.findall(r'\\boxed\{([^}]*)\}', vocab.decode(o))
        correct += bool(m) and m[-1] == p['answer']
    model.train()
    return correct / len(problems)


config = Qwen2Config(vocab_size=(vocab.size + 31) // 32 * 32, hidden_size=args.hidden, intermediate_size=args.intermediate,
                     num_hidden_layers=args.layers)
model = Qwen2ForCausalLM(config)
init_weights(model)
if args.init_from:
    model.load_state_dict(torch.load(args.init_from)['state'])
print(f'generator: {param_count(model)} parameters, config {config.to_dict()}', flush=True)
decay = [p for n, p in model.named_parameters() if p.dim() == 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.05}, {'params': no_decay, 'weight_decay': 0.0}],
                        lr=args.lr, betas=(0.9, 0.98))
warmup = args.warmup


def lr_at(step):
    if step < warmup:
        return args.lr * (step + 1) / warmup
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (args.steps - warmup))))


os.makedirs(CURVES, exist_ok=True)
curve = open(os.path.join(CURVES, args.curve), 'w', newline='')
log = csv.writer(curve)
log.writerow(['step', 'tokens', 'lr', 'train_loss', 'val_loss', 'elapsed_s'])
shuffle_rng = random.Random(args.seed)
plan = batches(examples, args.batch, shuffle_rng)
step, tokens, running, start = 0, 0, None, time.time()
while step < last_step:
    for idx in plan:
        if step >= last_step:
            break
        for g in opt.param_groups:
            g['lr'] = lr_at(step)
        ids, tgt = collate(examples, idx)
        loss = loss_of(model, ids, tgt)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += int((tgt != -100).sum())
        running = float(loss) if running is None else 0.95 * running + 0.05 * float(loss)
        if step % 50 == 0 or step == last_step:
            vl = val_loss(model) if step % 250 == 0 or step == last_step else ''
            log.writerow([step, tokens, f'{lr_at(step):.6f}', f'{running:.4f}', vl if vl == '' else f'{vl:.4f}', f'{time.time() - start:.0f}'])
            curve.flush()
            print(f'step {step} loss {running:.4f} val {vl} {time.time() - start:.0f}s', flush=True)
        if step % 250 == 0 or step == last_step:
            torch.save({'config': config.to_dict(), 'state': model.state_dict()}, os.path.join(WORK, args.out))
        if args.keep_every and step % args.keep_every == 0:
            torch.save({'config': config.to_dict(), 'state': model.state_dict()}, os.path.join(WORK, args.out.replace('.pt', f'-step{step}.pt')))
    plan = batches(examples, args.batch, shuffle_rng)
curve.close()
acc = greedy_accuracy(model, val[:350])
print(f'validation greedy accuracy (PyTorch) {acc:.3f}', flush=True)
