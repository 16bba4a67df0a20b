"""Trains the constructed verifier's read-out on exact labels: the sharpness of the soft maximum over the
solution's token surprises (the last fresh layer's key weight on SIG) and the value head's scale and bias, by
binary cross-entropy on every step separator of the generator's own sampled solutions (chain_steps.py labels:
a step is right when it and every step before it are right). The layers below are fixed, so their states
are computed once and only the last layer runs per step.
Usage: /usr/bin/python3 tools/train/fit_prm.py --init prm-k.pt --samples prm-samples.jsonl --out prm-k-fit.pt"""
import argparse
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import chain_steps  # noqa: E402
from bundled import load_model  # noqa: E402
from common import WORK, Vocab, chat_prompt, prm_input, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2ForPrmModel, rope_cos_sin, rotate_half  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--init', default='prm-k.pt')
ap.add_argument('--samples', default='prm-samples.jsonl')
ap.add_argument('--solutions', type=int, default=3000)
ap.add_argument('--steps', type=int, default=300)
ap.add_argument('--lr', type=float, default=0.05)
ap.add_argument('--seed', type=int, default=5)
ap.add_argument('--out', default='prm-k-fit.pt')
args = ap.parse_args()
setup(args.seed)
vocab = Vocab()
ck = torch.load(os.path.join(WORK, args.init))
prm = load_model(Qwen2ForPrmModel, args.init)
c = prm.config
last = prm.model.layers[-1]
AGG, SIG = ck['layout']['AGG'], ck['layout']['SIG']
low = c.head_dim // 2 - 1  # the aggregate head's content dimension (construct_prm.py)

rng = random.Random(args.seed)
rows = read_jsonl(os.path.join(WORK, args.samples))
rng.shuffle(rows)
rows = rows[:args.solutions]
seqs, seps, labels = [], [], []
for r, t in zip(rows, tokenize([[chat_prompt(r['problem'])] + r['steps'] for r in rows])):
    ids = prm_input(t, vocab.sep)
    seqs.append(ids)
    seps.append([i for i, x in enumerate(ids) if x == vocab.sep and i >= len(t[0])])
    labels.append(chain_steps.step_labels(r['problem'], r['steps']))
t0 = time.time()


@torch.no_grad()
def below_last(batch):
    T = max(len(s) for s in batch)
    ids = torch.zeros(len(batch), T, dtype=torch.long)
    for i, s in enumerate(batch):
        ids[i, :len(s)] = torch.tensor(s)
    cos, sin = rope_cos_sin(torch.arange(T).expand(len(batch), T), c.head_dim, c.rope_theta)
    mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
    x = prm.model.embed_tokens(ids)
    for layer in prm.model.layers[:-1]:
        x = layer(x, cos, sin, mask)
    return x


cache = []
for s in range(0, len(seqs), 64):
    cache.append(below_last(seqs[s:s + 64]))
print(f'{len(seqs)} solutions, {sum(len(x) for x in seps)} scored steps; states in {time.time() - t0:.0f}s', flush=True)

sharp = torch.nn.Parameter(last.self_attn.k_proj.weight[low, SIG].detach().clone())
scale = torch.nn.Parameter(prm.v_head.summary.weight[0, AGG].detach().clone() / 1e3)  # in thousands: similar step sizes
bias = torch.nn.Parameter(prm.v_head.summary.bias[0].detach().clone())
opt = torch.optim.Adam([sharp, scale, bias], lr=args.lr)


def apply():
    with torch.no_grad():
        last.self_attn.k_proj.weight[low, SIG] = sharp
        prm.v_head.summary.weight[0, AGG] = scale * 1e3
        prm.v_head.summary.bias[0] = bias


def loss_of(b):
    x = cache[b]
    T = x.shape[1]
    cos, sin = rope_cos_sin(torch.arange(T).expand(x.shape[0], T), c.head_dim, c.rope_theta)
    mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
    w = last.self_attn.k_proj.weight.detach().clone()
    w[low, SIG] = 0
    k_weight = w + F.one_hot(torch.tensor(low), w.shape[0])[:, None].float() * F.one_hot(torch.tensor(SIG), w.shape[1])[None].float() * sharp
    attn = last.self_attn
    h = last.input_layernorm(x)
    B = x.shape[0]
    q = attn.q_proj(h).view(B, T, c.num_attention_heads, c.head_dim).transpose(1, 2)
    k = F.linear(h, k_weight, attn.k_proj.bias).view(B, T, c.num_key_value_heads, c.head_dim).transpose(1, 2)
    v = attn.v_proj(h).view(B, T, c.num_key_value_heads, c.head_dim).transpose(1, 2)
    cs, sn = cos[:, None], sin[:, None]
    q, k = q * cs + rotate_half(q) * sn, k * cs + rotate_half(k) * sn
    rep = c.num_attention_heads // c.num_key_value_heads
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    att = ((q @ k.transpose(-1, -2)) / c.head_dim ** 0.5).masked_fill(~mask, float('-inf')).softmax(-1)
    x = x + attn.o_proj((att @ v).transpose(1, 2).reshape(B, T, c.hidden_size))
    x = x + last.mlp(last.post_attention_layernorm(x))
    hN = prm.model.norm(x)
    logits = hN[..., AGG] * scale * 1e3 + bias  # the value head reads AGG only
    pos, lab = [], []
    for i in range(B):
        for p, l in zip(seps[b * 64 + i], labels[b * 64 + i]):
            pos.append((i, p))
            lab.append(float(l))
    pred = torch.stack([logits[i, p] for i, p in pos])
    return F.binary_cross_entropy_with_logits(pred, torch.tensor(lab)), pred, lab


with torch.no_grad():
    base = sum(float(loss_of(b)[0]) for b in range(len(cache))) / len(cache)
print(f'start: sharpness {float(sharp):.3f} scale {float(scale) * 1e3:.1f} bias {float(bias):.3f} loss {base:.4f}', flush=True)
for step in range(1, args.steps + 1):
    b = rng.randrange(len(cache) - 4)  # the last 4 batches are held out
    loss, _, _ = loss_of(b)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0 or step == args.steps:
        with torch.no_grad():
            held = sum(float(loss_of(b)[0]) for b in range(len(cache) - 4, len(cache))) / 4
        print(f'step {step}: sharpness {float(sharp):.3f} scale {float(scale) * 1e3:.1f} bias {float(bias):.3f} '
              f'held-out loss {held:.4f}', flush=True)
apply()
torch.save({**ck, 'state': prm.state_dict(), 'fitted': {'sharpness': float(sharp), 'scale': float(scale) * 1e3, 'bias': float(bias)}},
           os.path.join(WORK, args.out))
print(f'wrote {args.out}')
