"""Loads a model for the analysis tools: a checkpoint in tools/train/.work (`generator.pt`, ...) or, with
`bundled:<dir>`, the committed Hugging Face directory under models/ (F32 safetensors), so the analyses run
on a fresh clone without retraining."""
import json
import os
import struct

import numpy as np
import torch

import common
from model import Qwen2Config


def read_safetensors(path):
    """name -> float32 tensor, for the F32 files export.py writes."""
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] != 'F32':
            raise ValueError(f'{path}: {name} is {info["dtype"]}, only F32 is read here')
        start, end = info['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(raw[8 + n + start:8 + n + end], dtype=np.float32).reshape(info['shape']).copy())
    return out


def config_of(model_dir):
    c = json.load(open(os.path.join(model_dir, 'config.json')))
    return Qwen2Config(**{k: c[k] for k in Qwen2Config.__dataclass_fields__})


def load_model(cls, spec):
    """spec: a checkpoint file name in .work, or bundled:<directory under models/>."""
    if spec.startswith('bundled:'):
        d = os.path.join(common.ROOT, 'models', spec[len('bundled:'):])
        model = cls(config_of(d))
        model.load_state_dict(read_safetensors(os.path.join(d, 'model.safetensors')))
    else:
        ck = torch.load(os.path.join(common.WORK, spec))
        model = cls(Qwen2Config(**ck['config']))
        model.load_state_dict(ck['state'])
    return model.eval()

