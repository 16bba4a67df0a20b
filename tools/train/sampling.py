"""Batched generation with a KV cache over left-padded prompts (PyTorch side; the engine has its own)."""
import torch


@torch.no_grad()
def generate(model, prompts, max_new, temperature, stop_ids, rng=None, batch_size=256):
    """Continues each prompt (list of ids) until a token in stop_ids (kept) or max_new tokens.
    temperature 0 is greedy. Returns the new ids of each prompt."""
    results = []
    for s in range(0, len(prompts), batch_size):
        results.extend(_generate_batch(model, prompts[s:s + batch_size], max_new, temperature, stop_ids, rng))
    return results


def _generate_batch(model, prompts, max_new, temperature, stop_ids, rng):
    B = len(prompts)
    L = max(len(p) for p in prompts)
    pads = torch.tensor([L - len(p) for p in prompts])
    ids = torch.zeros(B, L, dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, L - len(p):] = torch.tensor(p)
    positions = (torch.arange(L)[None, :] - pads[:, None]).clamp(min=0)
    key_ok = torch.arange(L)[None, :] >= pads[:, None]  # [B, S]
    mask = torch.ones(L, L, dtype=torch.bool).tril()[None, None] & key_ok[:, None, None, :]
    caches = [dict() for _ in model.model.layers]
    logits = model(ids, positions, mask, caches)[:, -1]
    next_pos = positions[:, -1] + 1
    out = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool)
    stop = torch.tensor(sorted(stop_ids))
    for _ in range(max_new):
        if temperature == 0:
            tok = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, -1)
            tok = torch.multinomial(probs, 1, generator=rng).squeeze(-1)
        for b in range(B):
            if not done[b]:
                out[b].append(int(tok[b]))
        done |= torch.isin(tok, stop)
        if bool(done.all()):
            break
        key_ok = torch.cat([key_ok, torch.ones(B, 1, dtype=torch.bool)], dim=1)
        logits = model(tok[:, None], next_pos[:, None], key_ok[:, None, None, :], caches)[:, -1]
        next_pos = next_pos + 1
    return out
