"""Batched generation with a KV cache over left-padded prompts (PyTorch side; the engine has its own).
Each prompt is prefilled once and its cache copied for `copies` samples."""
import torch


@torch.no_grad()
def generate(model, prompts, max_new, temperature, stop_ids, rng=None, copies=1, batch_rows=256):
    """Continues each prompt (list of ids) `copies` times until a token in stop_ids (kept) or max_new tokens.
    temperature 0 is greedy. Returns len(prompts) * copies lists of new ids, the copies of a prompt adjacent."""
    results = []
    per_batch = max(1, batch_rows // copies)
    for s in range(0, len(prompts), per_batch):
        results.extend(_generate_batch(model, prompts[s:s + per_batch], max_new, temperature, stop_ids, rng, copies))
    return results


def _generate_batch(model, prompts, max_new, temperature, stop_ids, rng, copies):
    P = len(prompts)
    L = max(len(p) for p in prompts)
    pads = torch.tensor([L - len(p) for p in prompts])
    ids = torch.zeros(P, L, dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, L - len(p):] = torch.tensor(p)
    positions = (torch.arange(L)[None, :] - pads[:, None]).clamp(min=0)
    key_ok = torch.arange(L)[None, :] >= pads[:, None]  # [P, S]
    # Padding rows attend to themselves only, so their (unused) states stay finite instead of NaN.
    mask = (torch.ones(L, L, dtype=torch.bool).tril()[None, None] & key_ok[:, None, None, :]) | torch.eye(L, dtype=torch.bool)[None, None]
    caches = [dict() for _ in model.model.layers]
    logits = model(ids, positions, mask, caches)[:, -1]
    if copies > 1:
        for c in caches:
            c['k'] = c['k'].repeat_interleave(copies, dim=0)
            c['v'] = c['v'].repeat_interleave(copies, dim=0)
        logits = logits.repeat_interleave(copies, dim=0)
        positions = positions.repeat_interleave(copies, dim=0)
        key_ok = key_ok.repeat_interleave(copies, dim=0)
    B = P * copies
    next_pos = positions[:, -1] + 1
    out = [[] for _ in range(B)]
    rows = torch.arange(B)  # which output each live batch row feeds
    stop = torch.tensor(sorted(stop_ids))
    for step in range(max_new):
        if temperature == 0:
            tok = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, -1)
            tok = torch.multinomial(probs, 1, generator=rng).squeeze(-1)
        for r, t in zip(rows.tolist(), tok.tolist()):
            out[r].append(t)
        live = ~torch.isin(tok, stop)
        if not bool(live.any()):
            break
        if not bool(live.all()):  # drop finished rows so the batch shrinks as samples end
            keep = live.nonzero().squeeze(-1)
            rows, tok, next_pos, key_ok = rows[keep], tok[keep], next_pos[keep], key_ok[keep]
            for c in caches:
                c['k'], c['v'] = c['k'][keep], c['v'][keep]
        key_ok = torch.cat([key_ok, torch.ones(len(rows), 1, dtype=torch.bool)], dim=1)
        logits = model(tok[:, None], next_pos[:, None], key_ok[:, None, None, :], caches)[:, -1]
        next_pos = next_pos + 1
    return out
