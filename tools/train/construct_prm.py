"""Builds the verifier's starting point analytically: a Qwen2ForPrmModel (value head, no LM head) whose fresh
layers compute, from a frozen strong checkpoint of the generator's run, how surprised that checkpoint is by
each written token, and whose value head reads a soft maximum of that surprise over the solution so far.
Training (train_prm.py --init-from) then tunes it on exact labels.

Why: trained from scratch, fresh layers on top of the backbone learnt the comparison of a written token with
the backbone's prediction only slowly (sibling ranking 0.75-0.80 after hours); but a Qwen2 layer can compute
it exactly, given room. The residual stream is widened from the backbone's H dimensions to H + 64:
  [0, H)        the backbone's residual, untouched (its layers are padded with zeros and read only these);
  [H, H+32)     a small one-hot of the current token over R, the tokens a solution is written in (scaled by
                EPS in the embedding, so the backbone's RMS norms see them as noise below 1e-4), then four
                scalar slots: CONST (a large constant, so later norms scale by a fixed factor), FLAG (1 from
                the assistant's turn on), U (the backbone's logit of the current token), SIG (surprise);
  [H+32, H+64)  the backbone's logits over R at the previous position, then the aggregate slot AGG.
Fresh layer 1: head 0 reads the previous position and carries E_R . norm(h_{t-1}) (the logits over R);
  head 2 writes CONST from a value bias; its MLP multiplies the one-hot with those logits (pairs of SiLU
  units: silu(a) - silu(-a) = a, so the product is exact) into U.
Fresh layer 2: head 4 attends to the 'assistant' token and writes FLAG; its MLP writes
  SIG = sum over R of relu(logit - U) (SiLU with a steep slope), zero on the two header tokens.
Fresh layer 3: head 0 attends over the solution (FLAG) with weights exp(SIG) and writes the weighted SIG to
  AGG; the value head reads -AGG.
Usage: /usr/bin/python3 tools/train/construct_prm.py --backbone generator-strong.pt --out prm-k.pt"""
import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import chain_steps  # noqa: E402
from common import WORK, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2Config, Qwen2ForPrmModel, rope_cos_sin  # noqa: E402

EPS = 0.01  # one-hot scale in the embedding
K = 1e4  # CONST: dominates the later RMS norms, which then scale by a near-constant factor
STEEP = 10.0  # SiLU slope for relu(logit - U)
FLAG_GAIN = 40.0  # attention logit of the 'assistant' token for the FLAG head
OUT_GATE = 500.0  # attention logit penalty of positions before the assistant's turn, in the aggregate
EXTRA = 64


def solution_tokens(vocab):
    """R: every token the assistant's turn of a right solution is written in, plus its header tokens."""
    rows = read_jsonl(os.path.join(WORK, 'arith-train.jsonl'))[:3000]
    texts = [[chat_prompt(r['problem'])] + chain_steps.reference_steps(chain_steps.problem_chain(r['problem'])) for r in rows]
    seen = set()
    for t in tokenize(texts):
        for s in t[1:]:
            seen.update(s)
    header = tokenize([['<|im_start|>assistant\n']])[0][0]
    assistant, newline = header[-2], header[-1]
    seen.update([vocab.sep, assistant, newline])
    return sorted(seen), assistant, newline


def build(backbone_ck, vocab, add_layers=3, agg_sharpness=1.0, alpha=1.0, bias=3.0):
    bc = Qwen2Config(**backbone_ck['config'])
    H, hd = bc.hidden_size, bc.head_dim
    R, asst, newline = solution_tokens(vocab)
    assert len(R) <= 27, f'{len(R)} solution tokens: the one-hot block has 28 slots, one more logit is carried'
    D = H + EXTRA
    heads = D // hd
    kv = heads * bc.num_key_value_heads // bc.num_attention_heads
    config = Qwen2Config(**{**bc.to_dict(), 'hidden_size': D, 'num_attention_heads': heads, 'num_key_value_heads': kv,
                            'num_hidden_layers': bc.num_hidden_layers + add_layers})
    assert config.head_dim == hd
    OH, CONST, FLAG, U, SIG = H, H + 28, H + 29, H + 30, H + 31
    LP, AGG = H + 32, H + 32 + 28
    oh = {v: OH + a for a, v in enumerate(R)}
    seen = R + [vocab.im_end]  # logits carried: R and the end of the turn, which a final step's separator stands in for
    lp = {v: LP + a for a, v in enumerate(seen)}
    src = backbone_ck['state']
    prm = Qwen2ForPrmModel(config)
    st = {k: torch.zeros_like(v) for k, v in prm.state_dict().items()}
    shrink = math.sqrt(H / D)  # a norm over D dims of a vector living in H of them scales up by sqrt(D / H)

    emb = st['model.embed_tokens.weight']
    emb[:, :H] = src['model.embed_tokens.weight']
    for v in R:
        emb[v, oh[v]] = EPS
    for i in range(bc.num_hidden_layers):
        p = f'model.layers.{i}.'
        for n in ('input_layernorm', 'post_attention_layernorm'):
            st[p + n + '.weight'][:H] = src[p + n + '.weight'] * shrink
        for n in ('q_proj', 'k_proj', 'v_proj'):
            w = src[p + f'self_attn.{n}.weight']
            st[p + f'self_attn.{n}.weight'][:w.shape[0], :H] = w
            st[p + f'self_attn.{n}.bias'][:w.shape[0]] = src[p + f'self_attn.{n}.bias']
        st[p + 'self_attn.o_proj.weight'][:H, :H] = src[p + 'self_attn.o_proj.weight']
        for n in ('gate_proj', 'up_proj'):
            st[p + f'mlp.{n}.weight'][:, :H] = src[p + f'mlp.{n}.weight']
        st[p + 'mlp.down_proj.weight'][:H] = src[p + 'mlp.down_proj.weight']

    E = src['model.embed_tokens.weight']
    rho = K / math.sqrt(D)  # RMS of the residual once CONST is written (everything else is small beside it)
    L0 = bc.num_hidden_layers

    # fresh layer 1: previous position's logits over R, CONST, then U = logit of the current token
    p = f'model.layers.{L0}.'
    st[p + 'input_layernorm.weight'][:H] = src['model.norm.weight'] * shrink  # = the backbone's final norm
    u = torch.zeros(hd)
    npairs = 6
    u[:npairs] = 1.0
    u[hd // 2:hd // 2 + npairs] = 1.0
    cos, sin = rope_cos_sin(torch.tensor([[-1]]), hd, config.rope_theta)
    rot = torch.cat([-u[hd // 2:], u[:hd // 2]])
    st[p + 'self_attn.q_proj.bias'][0:hd] = (u * cos[0, 0] + rot * sin[0, 0]) * 120.0  # head 0 -> kv head 0
    st[p + 'self_attn.k_proj.bias'][0:hd] = u
    for a, v in enumerate(seen):
        st[p + 'self_attn.v_proj.weight'][a, :H] = E[v]
        st[p + 'self_attn.o_proj.weight'][lp[v], a] = 1.0  # head 0's output -> LP block
    st[p + 'self_attn.v_proj.bias'][hd] = K  # kv head 1 (query heads 2, 3): a constant value
    st[p + 'self_attn.o_proj.weight'][CONST, 2 * hd] = 1.0
    ln = st[p + 'post_attention_layernorm.weight']
    for v in R:
        ln[oh[v]] = rho / EPS
    for v in seen:
        ln[lp[v]] = rho
    for a, v in enumerate(R):
        for s, sign in enumerate((1.0, -1.0)):
            j = 2 * a + s
            st[p + 'mlp.gate_proj.weight'][j, lp[v]] = sign
            st[p + 'mlp.up_proj.weight'][j, oh[v]] = 1.0
            st[p + 'mlp.down_proj.weight'][U, j] = sign
    # A separator where the turn could end is as expected as the end itself: U = max(sep, end) there.
    j = 2 * len(R)
    st[p + 'mlp.gate_proj.weight'][j, lp[vocab.im_end]] = STEEP
    st[p + 'mlp.gate_proj.weight'][j, lp[vocab.sep]] = -STEEP
    st[p + 'mlp.up_proj.weight'][j, oh[vocab.sep]] = 1.0
    st[p + 'mlp.down_proj.weight'][U, j] = 1.0 / STEEP

    # fresh layer 2: FLAG from the 'assistant' token; SIG = sum_R relu(logit - U), zero on the header tokens
    p = f'model.layers.{L0 + 1}.'
    ln = st[p + 'input_layernorm.weight']
    ln[oh[asst]] = rho / EPS
    low = hd // 2 - 1  # the slowest-rotating RoPE pair: content attention that ignores distance
    st[p + 'self_attn.q_proj.bias'][4 * hd + low] = FLAG_GAIN * math.sqrt(hd)  # query head 4 -> kv head 2
    st[p + 'self_attn.k_proj.weight'][2 * hd + low, oh[asst]] = 1.0
    st[p + 'self_attn.v_proj.weight'][2 * hd, oh[asst]] = 1.0
    st[p + 'self_attn.o_proj.weight'][FLAG, 4 * hd] = 1.0
    ln = st[p + 'post_attention_layernorm.weight']
    ln[CONST] = rho / K
    ln[U] = rho
    for v in seen:
        ln[lp[v]] = rho
    for v in R:
        ln[oh[v]] = rho / EPS
    for a, v in enumerate(seen):
        st[p + 'mlp.gate_proj.weight'][a, lp[v]] = STEEP
        st[p + 'mlp.gate_proj.weight'][a, U] = -STEEP
        st[p + 'mlp.gate_proj.weight'][a, oh[asst]] = -1e3
        st[p + 'mlp.gate_proj.weight'][a, oh[newline]] = -1e3
        st[p + 'mlp.up_proj.weight'][a, CONST] = 1.0
        st[p + 'mlp.down_proj.weight'][SIG, a] = 1.0 / STEEP

    # fresh layer 3: AGG = sum_j w_j SIG_j, w ~ exp(sharpness * SIG_j) over the assistant's turn
    p = f'model.layers.{L0 + 2}.'
    ln = st[p + 'input_layernorm.weight']
    ln[CONST] = rho / K
    ln[FLAG] = rho
    ln[SIG] = rho
    st[p + 'self_attn.q_proj.bias'][low] = math.sqrt(hd)  # head 0 -> kv head 0
    st[p + 'self_attn.k_proj.weight'][low, SIG] = agg_sharpness
    st[p + 'self_attn.k_proj.weight'][low, FLAG] = OUT_GATE
    st[p + 'self_attn.k_proj.weight'][low, CONST] = -OUT_GATE
    st[p + 'self_attn.v_proj.weight'][0, SIG] = 1.0
    st[p + 'self_attn.o_proj.weight'][AGG, 0] = 1.0
    st[p + 'post_attention_layernorm.weight'][:] = 1.0  # its MLP is zero: the layer ends as the identity
    for i in range(L0 + 3, config.num_hidden_layers):  # any further layers start as the identity
        st[f'model.layers.{i}.input_layernorm.weight'][:] = 1.0
        st[f'model.layers.{i}.post_attention_layernorm.weight'][:] = 1.0

    st['model.norm.weight'][:] = 1.0
    st['v_head.summary.weight'][0, AGG] = -alpha * rho
    st['v_head.summary.bias'][0] = bias
    prm.load_state_dict(st)
    return prm.eval(), config, dict(R=R, U=U, SIG=SIG, AGG=AGG, FLAG=FLAG, CONST=CONST, LP=LP)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--backbone', default='generator-strong.pt')
    ap.add_argument('--sharpness', type=float, default=1.0)
    ap.add_argument('--add-layers', type=int, default=3)
    ap.add_argument('--out', default='prm-k.pt')
    args = ap.parse_args()
    setup(0)
    vocab = Vocab()
    ck = torch.load(os.path.join(WORK, args.backbone))
    prm, config, layout = build(ck, vocab, args.add_layers, args.sharpness)
    torch.save({'config': config.to_dict(), 'state': prm.state_dict(), 'constructed_from': args.backbone, 'layout': layout},
               os.path.join(WORK, args.out))
    print(f'wrote {args.out}: hidden {config.hidden_size}, {config.num_hidden_layers} layers, '
          f'{sum(p.numel() for p in prm.parameters()) / 1e6:.2f}M parameters')


if __name__ == '__main__':
    main()
