"""Trains the bundled verifier: a Skywork-style value-head PRM (Qwen2ForPrmModel, no LM head) that reads
exactly the generator's format (ChatML prompt, each step followed by the "\\n\\n" token, the score read
there). Its backbone is a strong checkpoint of the generator's own training run, frozen, with fresh
decoder layers on top (output projections zero, so they start as the identity) where the comparison of
each written token with what the backbone expected can happen; the first fresh layer's head 0 starts out
reading the previous position, where the backbone's prediction of the current token sits.
Labels are exact and dense: every token of a step is labelled by whether the step so far is a prefix of
the one right next step (chain_steps.py), and the separator by whether the step is right. Training data:
pairs matched on their prefix (the right step and a wrong one of the kinds a sampling generator makes,
after the same right steps; tens of thousands, drawn fresh from the train split), plus the shipped
generator's own sampled solutions, plus a pairwise loss on the pairs' separators.
The backbone is frozen (run without gradients), so each step trains the fresh layers only.
Usage: /usr/bin/python3 tools/train/train_prm.py --backbone generator-step2000.pt [--samples prm-samples.jsonl]
       [--pairs 40000] [--steps 3000] --heldout-siblings siblings-val.jsonl"""
import argparse
import csv
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import chain_steps  # noqa: E402
from common import CURVES, STEP_SEPARATOR, WORK, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2Config, Qwen2ForPrmModel, rope_cos_sin  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--seed', type=int, default=4321)
ap.add_argument('--backbone', required=True, help='generator checkpoint in tools/train/.work')
ap.add_argument('--extra-layers', type=int, default=2)
ap.add_argument('--no-prev-head', action='store_true', help='control: no previous-position head initialisation')
ap.add_argument('--prev-kv-heads', type=int, default=1, help='how many KV heads (and their query heads) start reading the previous position')
ap.add_argument('--unfreeze', action='store_true', help='train the backbone too (at a tenth of the learning rate)')
ap.add_argument('--init-from', default=None, help='continue from this PRM checkpoint in .work')
ap.add_argument('--aux-weight', type=float, default=0.0,
                help='weight of an auxiliary training-only target: at each written token, the frozen backbone\'s log-probability '
                     'of that token, read from the final hidden state by a linear probe that is not exported')
ap.add_argument('--samples', default=None, help='sampled solutions (sample_steps.py solutions) in .work')
ap.add_argument('--pairs', type=int, default=40000, help='prefix-matched right/wrong pairs from the train split')
ap.add_argument('--pairs-offset', type=int, default=120000, help='first train problem for pairs (the generator used the ones before)')
ap.add_argument('--result-weight', type=int, default=1, help='draw wrong results this many times as often among the pairs\' errors')
ap.add_argument('--steps', type=int, default=3000)
ap.add_argument('--batch', type=int, default=64)
ap.add_argument('--lr', type=float, default=1e-3)
ap.add_argument('--token-weight', type=float, default=0.3, help='loss weight of a step token against a separator')
ap.add_argument('--heldout-siblings', required=True, help='sample_steps.py siblings file in .work (validation problems)')
ap.add_argument('--eval-every', type=int, default=250)
ap.add_argument('--curve', default='prm.csv')
ap.add_argument('--out', default='prm.pt')
args = ap.parse_args()
setup(args.seed)
vocab = Vocab()
SEP = vocab.sep  # "\n\n": the generator's step delimiter, also the verifier's scoring token


# ---- examples: (ids, labels per position: -1 not scored, 0/1; separator positions) ----
def build(prompt_ids, step_ids, ref_ids):
    """ids, labels and weights of a prompt then steps (each + SEP), labelled against the reference steps."""
    ids, labels, weights, seps = list(prompt_ids), [-1] * len(prompt_ids), [0.0] * len(prompt_ids), []
    ok = True
    for k, s in enumerate(step_ids):
        r = ref_ids[k] if ok and k < len(ref_ids) else None
        for j, t in enumerate(s):
            right = ok and r is not None and j < len(r) and s[:j + 1] == r[:j + 1]
            ids.append(t)
            labels.append(int(right))
            weights.append(args.token_weight)
        ok = ok and r is not None and s == r
        ids.append(SEP)
        labels.append(int(ok))
        weights.append(1.0)
        seps.append(len(ids) - 1)
    return ids, labels, weights, seps


def pair_examples(problems, rng):
    """For each problem a random point k of its solution: right steps 0..k-1, then the right step k or a wrong one."""
    items, texts = [], []
    for p in problems:
        ref = chain_steps.reference_steps(chain_steps.problem_chain(p['problem']))
        k = rng.randrange(len(ref))
        kinds = chain_steps.KINDS + ['result'] * 2 * (args.result_weight - 1)
        wrong = chain_steps.wrong_next(rng, chain_steps.chain_after(p['problem'], k), kinds)
        items.append(k)
        texts.append([chat_prompt(p['problem']), wrong] + ref)
    out = []
    for k, toks in zip(items, tokenize(texts)):
        prompt, wrong, ref = toks[0], toks[1], toks[2:]
        out.append((build(prompt, ref[:k + 1], ref), build(prompt, ref[:k] + [wrong], ref)))
    return out


def sample_examples(rows):
    toks = tokenize([[chat_prompt(r['problem'])] + r['steps'] + chain_steps.reference_steps(chain_steps.problem_chain(r['problem']))
                     for r in rows])
    out = []
    for r, t in zip(rows, toks):
        n = len(r['steps'])
        out.append(build(t[0], t[1:1 + n], t[1 + n:]))
    return out


def sibling_items(rows):
    """Scoring inputs of held-out siblings: (group, label, ids); the score is read at the last position."""
    texts = [[chat_prompt(r['problem'])] + r['prefix'] + r['steps'] for r in rows]
    items = []
    for g, (r, t) in enumerate(zip(rows, tokenize(texts))):
        if all(r['labels']) or not any(r['labels']):
            continue
        prefix = list(t[0])
        for s in t[1:1 + len(r['prefix'])]:
            prefix += s + [SEP]
        for s, lab in zip(t[1 + len(r['prefix']):], r['labels']):
            items.append((g, lab, prefix + s + [SEP]))
    return items


t0 = time.time()
rng = random.Random(args.seed)
train = read_jsonl(os.path.join(WORK, 'arith-train.jsonl'))[args.pairs_offset:args.pairs_offset + args.pairs]
pairs = pair_examples(train, rng)
samples = sample_examples(read_jsonl(os.path.join(WORK, args.samples))) if args.samples else []
heldout = sibling_items(read_jsonl(os.path.join(WORK, args.heldout_siblings)))
print(f'{len(pairs)} pairs, {len(samples)} sampled solutions, {len(heldout)} held-out sibling steps; {time.time() - t0:.0f}s', flush=True)

# ---- model: frozen backbone + fresh layers ----
ck = torch.load(os.path.join(WORK, args.backbone))
bc = Qwen2Config(**ck['config'])
config = Qwen2Config(**{**ck['config'], 'num_hidden_layers': bc.num_hidden_layers + args.extra_layers})
prm = Qwen2ForPrmModel(config)
state = prm.state_dict()
for k, v in ck['state'].items():
    state[k] = v.clone()
for i in range(bc.num_hidden_layers, config.num_hidden_layers):
    layer = prm.model.layers[i]
    for lin in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.mlp.gate_proj, layer.mlp.up_proj):
        torch.nn.init.normal_(lin.weight, std=0.02)
        if lin.bias is not None:
            torch.nn.init.zeros_(lin.bias)
    torch.nn.init.zeros_(layer.self_attn.o_proj.weight)
    torch.nn.init.zeros_(layer.mlp.down_proj.weight)
    state.update({f'model.layers.{i}.{k}': v for k, v in layer.state_dict().items()})
state['v_head.summary.weight'] = torch.zeros_like(state['v_head.summary.weight'])
state['v_head.summary.bias'] = torch.zeros_like(state['v_head.summary.bias'])
prm.load_state_dict(state)

if not args.no_prev_head:
    # Head 0 of the first fresh layer attends to the previous position: content-free query and key (weights
    # zero, biases only) whose RoPE phases differ by one position, on the fastest-rotating dimension pairs.
    attn = prm.model.layers[bc.num_hidden_layers].self_attn
    hd = config.head_dim
    u = torch.zeros(hd)
    pairs_used = 6
    u[:pairs_used] = 1.0
    u[hd // 2:hd // 2 + pairs_used] = 1.0
    cos, sin = rope_cos_sin(torch.tensor([[-1]]), hd, config.rope_theta)
    half = hd // 2
    rot = torch.cat([-u[half:], u[:half]])
    q0 = (u * cos[0, 0] + rot * sin[0, 0]) * 12.0
    rep = config.num_attention_heads // config.num_key_value_heads
    with torch.no_grad():
        for kv in range(min(args.prev_kv_heads, config.num_key_value_heads)):
            ks = slice(kv * hd, (kv + 1) * hd)
            attn.k_proj.weight[ks] = 0
            attn.k_proj.bias[ks] = u
            attn.v_proj.weight[ks] = 0
            attn.v_proj.weight[ks, kv * hd:(kv + 1) * hd] = torch.eye(hd)  # carry part of the previous position's state
            for q in range(kv * rep, (kv + 1) * rep if args.prev_kv_heads > 1 else kv * rep + 1):
                qs = slice(q * hd, (q + 1) * hd)
                attn.q_proj.weight[qs] = 0
                attn.q_proj.bias[qs] = q0

if args.init_from:
    prm.load_state_dict(torch.load(os.path.join(WORK, args.init_from))['state'])
backbone_norm = ck['state']['model.norm.weight'].clone()  # the backbone's own final norm, for the auxiliary target
aux_probe = torch.nn.Linear(config.hidden_size, 1)
backbone_layers = bc.num_hidden_layers
backbone_params = list(prm.model.embed_tokens.parameters()) + [p for layer in prm.model.layers[:backbone_layers] for p in layer.parameters()]
if not args.unfreeze:
    for p in backbone_params:
        p.requires_grad_(False)


@torch.no_grad()
def backbone_states(ids_list):
    """Pre-norm residual stream after the backbone's layers, one [T, H] tensor per sequence."""
    out = [None] * len(ids_list)
    order = sorted(range(len(ids_list)), key=lambda i: len(ids_list[i]))
    for s in range(0, len(order), 128):
        idx = order[s:s + 128]
        T = max(len(ids_list[i]) for i in idx)
        ids = torch.zeros(len(idx), T, dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :len(ids_list[i])] = torch.tensor(ids_list[i])
        x = prm.model.embed_tokens(ids)
        cos, sin = rope_cos_sin(torch.arange(T).expand(len(idx), T), config.head_dim, config.rope_theta)
        mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
        for layer in prm.model.layers[:backbone_layers]:
            x = layer(x, cos, sin, mask)
        for r, i in enumerate(idx):
            out[i] = x[r, :len(ids_list[i])].clone()
    return out


def head_logits(x, with_hidden=False):
    """Fresh layers + final norm + value head over cached backbone states x [B, T, H]."""
    B, T, _ = x.shape
    cos, sin = rope_cos_sin(torch.arange(T).expand(B, T), config.head_dim, config.rope_theta)
    mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
    for layer in prm.model.layers[backbone_layers:]:
        x = layer(x, cos, sin, mask)
    h = prm.model.norm(x)
    v = prm.v_head.summary(h).squeeze(-1)
    return (v, h) if with_hidden else v


@torch.no_grad()
def backbone_logprob(states, ids):
    """log p(x_t | x_<t) under the frozen backbone, at every position t >= 1 (0 at t = 0)."""
    var = states.pow(2).mean(-1, keepdim=True)
    logits = (backbone_norm * states * torch.rsqrt(var + config.rms_norm_eps)) @ prm.model.embed_tokens.weight.T
    lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
    return torch.cat([torch.zeros(ids.shape[0], 1), lp], dim=1)


def pad(states):
    T = max(s.shape[0] for s in states)
    x = torch.zeros(len(states), T, states[0].shape[1])
    for r, s in enumerate(states):
        x[r, :s.shape[0]] = s
    return x


t0 = time.time()
flat = [e for pr in pairs for e in pr] + samples
heldout_feats = backbone_states([it[2] for it in heldout])
print(f'held-out backbone states cached in {time.time() - t0:.0f}s', flush=True)
pair_ix = [(2 * i, 2 * i + 1) for i in range(len(pairs))]
sample_ix = list(range(2 * len(pairs), len(flat)))


@torch.no_grad()
def sibling_ranking():
    if args.unfreeze:  # the backbone moves: its cached states would be stale
        heldout_feats[:] = backbone_states([it[2] for it in heldout])
    prm.eval()
    scores = []
    for s in range(0, len(heldout), 256):
        chunk = heldout_feats[s:s + 256]
        logits = head_logits(pad(chunk))
        scores += [float(logits[r, c.shape[0] - 1]) for r, c in enumerate(chunk)]
    prm.train()
    groups = {}
    for (g, lab, _), sc in zip(heldout, scores):
        groups.setdefault(g, ([], []))[0 if lab else 1].append(sc)
    won, total = 0.0, 0
    for right, wrong in groups.values():
        for a in right:
            for b in wrong:
                won += 1.0 if a > b else 0.5 if a == b else 0.0
                total += 1
    return won / max(total, 1)


params = [p for p in prm.parameters() if p.requires_grad] + (list(aux_probe.parameters()) if args.aux_weight > 0 else [])
ids_backbone = {id(p) for p in backbone_params}
groups = [{'params': [p for p in params if id(p) not in ids_backbone], 'scale': 1.0}]
if args.unfreeze:
    groups.append({'params': [p for p in params if id(p) in ids_backbone], 'scale': 0.1})
opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)


def lr_at(step):
    warm = 100
    return args.lr * min(1.0, (step + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, args.steps) / args.steps)))


def batch_loss(ix, pair_rows):
    # The frozen backbone runs on each batch (no gradient): every example is seen about once, so caching
    # all of them first would cost as much.
    if args.unfreeze:
        T = max(len(flat[i][0]) for i in ix)
        ids = torch.zeros(len(ix), T, dtype=torch.long)
        for r, i in enumerate(ix):
            ids[r, :len(flat[i][0])] = torch.tensor(flat[i][0])
        logits = prm(ids)
    else:
        states = pad(backbone_states([flat[i][0] for i in ix]))
        logits, hidden = head_logits(states, with_hidden=True)
    T = logits.shape[1]
    lab = torch.full((len(ix), T), -1.0)
    w = torch.zeros(len(ix), T)
    for r, i in enumerate(ix):
        _, labels, weights, _ = flat[i]
        lab[r, :len(labels)] = torch.tensor(labels, dtype=torch.float32)
        w[r, :len(weights)] = torch.tensor(weights)
    keep = lab >= 0
    bce = (F.binary_cross_entropy_with_logits(logits[keep], lab[keep], reduction='none') * w[keep]).sum() / w[keep].sum()
    if args.aux_weight > 0 and not args.unfreeze:
        ids = torch.zeros(len(ix), T, dtype=torch.long)
        for r, i in enumerate(ix):
            ids[r, :len(flat[i][0])] = torch.tensor(flat[i][0])
        target = backbone_logprob(states, ids).clamp(min=-8.0) / 8.0 + 1.0  # 1: expected, 0: very unlikely
        bce = bce + args.aux_weight * F.mse_loss(aux_probe(hidden).squeeze(-1)[keep], target[keep])
    if not pair_rows:
        return bce
    right = torch.stack([logits[a, flat[ix[a]][3][-1]] for a, _ in pair_rows])
    wrong = torch.stack([logits[b, flat[ix[b]][3][-1]] for _, b in pair_rows])
    return bce + F.softplus(wrong - right).mean()


os.makedirs(CURVES, exist_ok=True)
curve = open(os.path.join(CURVES, args.curve), 'w', newline='')
log = csv.writer(curve)
log.writerow(['step', 'lr', 'train_loss', 'sibling_ranking', 'elapsed_s'])
best, running, start = -1.0, None, time.time()
print(f'step 0 sibling ranking {sibling_ranking():.4f}', flush=True)
for step in range(1, args.steps + 1):
    for g in opt.param_groups:
        g['lr'] = lr_at(step) * g['scale']
    if step % 2 == 1 or not sample_ix:
        chosen = rng.sample(pair_ix, args.batch // 2)
        ix = [i for pr in chosen for i in pr]
        loss = batch_loss(ix, [(2 * j, 2 * j + 1) for j in range(len(chosen))])
    else:
        loss = batch_loss(rng.sample(sample_ix, args.batch), None)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    running = float(loss) if running is None else 0.98 * running + 0.02 * float(loss)
    if step % args.eval_every == 0 or step == args.steps:
        rank = sibling_ranking()
        log.writerow([step, f'{lr_at(step):.6f}', f'{running:.4f}', f'{rank:.4f}', f'{time.time() - start:.0f}'])
        curve.flush()
        print(f'step {step} loss {running:.4f} sibling ranking {rank:.4f} {time.time() - start:.0f}s', flush=True)
        if rank > best:
            best = rank
            torch.save({'config': config.to_dict(), 'state': prm.state_dict(), 'sibling_ranking': rank, 'step': step},
                       os.path.join(WORK, args.out))
print(f'best held-out sibling ranking {best:.4f}', flush=True)
