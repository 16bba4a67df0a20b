"""Qwen2 in plain PyTorch, written to match Hugging Face's Qwen2 math exactly (RMSNorm, rotate-half RoPE,
grouped-query attention with q/k/v biases and no o_proj bias, SwiGLU MLP, tied embeddings), so the
engine's kernels reproduce these models. Qwen2ForPrmModel adds Skywork's value head `v_head.summary`."""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Qwen2Config:
    vocab_size: int
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rope_cos_sin(positions, head_dim: int, theta: float):
    """cos/sin of shape [B, T, head_dim] for integer positions [B, T] (HF layout: the two halves repeat)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = positions.to(torch.float32)[..., None] * inv_freq
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Attention(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.c = c
        hd, kv = c.head_dim, c.num_key_value_heads * c.head_dim
        self.q_proj = nn.Linear(c.hidden_size, c.hidden_size, bias=True)
        self.k_proj = nn.Linear(c.hidden_size, kv, bias=True)
        self.v_proj = nn.Linear(c.hidden_size, kv, bias=True)
        self.o_proj = nn.Linear(c.hidden_size, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        c = self.c
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, c.num_attention_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, c.num_key_value_heads, c.head_dim).transpose(1, 2)
        cos, sin = cos[:, None], sin[:, None]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if cache.get('k') is not None:
                k = torch.cat([cache['k'], k], dim=2)
                v = torch.cat([cache['v'], v], dim=2)
            cache['k'], cache['v'] = k, v
        rep = c.num_attention_heads // c.num_key_value_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(c.head_dim)
        att = att.masked_fill(~mask, float('-inf')).softmax(-1)
        out = (att @ v).transpose(1, 2).reshape(B, T, c.hidden_size)
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen2Model(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)

    def forward(self, ids, positions=None, mask=None, caches=None):
        """ids [B, T]; positions [B, T] (default 0..T-1); mask [B, 1, T, S] bool, True = may attend
        (default causal); caches: one dict per layer, extended in place. Returns the final-norm hidden states."""
        B, T = ids.shape
        if positions is None:
            positions = torch.arange(T).expand(B, T)
        if mask is None:
            mask = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
        cos, sin = rope_cos_sin(positions, self.c.head_dim, self.c.rope_theta)
        x = self.embed_tokens(ids)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, mask, None if caches is None else caches[i])
        return self.norm(x)


class Qwen2ForCausalLM(nn.Module):
    architecture = 'Qwen2ForCausalLM'

    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.config = c
        self.model = Qwen2Model(c)

    def forward(self, ids, positions=None, mask=None, caches=None):
        h = self.model(ids, positions, mask, caches)
        return h @ self.model.embed_tokens.weight.T  # tied LM head


class ValueHead(nn.Module):
    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.summary = nn.Linear(c.hidden_size, 1, bias=True)


class Qwen2ForPrmModel(nn.Module):
    """Skywork-style PRM: the step score is sigmoid(v_head.summary(h)) at each step-separator position."""
    architecture = 'Qwen2ForPrmModel'

    def __init__(self, c: Qwen2Config):
        super().__init__()
        self.config = c
        self.model = Qwen2Model(c)
        self.v_head = ValueHead(c)

    def forward(self, ids, positions=None, mask=None):
        """Value-head logits [B, T] (apply sigmoid for scores)."""
        return self.v_head.summary(self.model(ids, positions, mask)).squeeze(-1)


def init_weights(module: nn.Module, std: float = 0.02):
    for name, p in module.named_parameters():
        if p.dim() == 2:
            nn.init.normal_(p, std=std)
        elif name.endswith('bias'):
            nn.init.zeros_(p)


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
