"""Exports the trained pair in Hugging Face layout (models/arith-generator, models/arith-prm: config.json,
generation_config.json, tokenizer.json, tokenizer_config.json, model.safetensors in F32) and writes the
PyTorch reference outputs of tests/fixtures/bundled-models.json (computed in float64).
Usage: /usr/bin/python3 tools/train/export.py"""
import json
import os
import shutil
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import ROOT, STEP_SEPARATOR, TOKENIZER_DIR, WORK, Vocab, chat_prompt, read_jsonl, setup, tokenize  # noqa: E402
from model import Qwen2Config, Qwen2ForCausalLM, Qwen2ForPrmModel  # noqa: E402

setup(0)
vocab = Vocab()
FIXTURE_PROMPTS = 20
TOP_K = 10
FULL_ROWS = 3


def write_safetensors(path, tensors):
    """The safetensors layout: 8-byte little-endian header length, JSON header, then the raw data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header['__metadata__'] = {'format': 'pt'}
    raw = json.dumps(header, separators=(',', ':')).encode()
    raw += b' ' * (-len(raw) % 8)  # keep the data 8-byte aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def hf_config(c: Qwen2Config, architecture: str, extra=None):
    cfg = {
        'architectures': [architecture], 'model_type': 'qwen2',
        'hidden_size': c.hidden_size, 'intermediate_size': c.intermediate_size, 'num_hidden_layers': c.num_hidden_layers,
        'num_attention_heads': c.num_attention_heads, 'num_key_value_heads': c.num_key_value_heads,
        'vocab_size': c.vocab_size, 'max_position_embeddings': c.max_position_embeddings,
        'rope_theta': c.rope_theta, 'rms_norm_eps': c.rms_norm_eps, 'hidden_act': 'silu',
        'tie_word_embeddings': True, 'bos_token_id': vocab.bos, 'eos_token_id': vocab.im_end,
        'attention_dropout': 0.0, 'initializer_range': 0.02, 'use_cache': True, 'use_sliding_window': False,
        'sliding_window': c.max_position_embeddings, 'max_window_layers': c.num_hidden_layers, 'torch_dtype': 'float32',
    }
    cfg.update(extra or {})
    return cfg


def export(model, name, architecture, extra_config=None):
    out = os.path.join(ROOT, 'models', name)
    os.makedirs(out, exist_ok=True)
    tensors = {k: v for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(out, 'model.safetensors'), tensors)
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(hf_config(model.config, architecture, extra_config), f, indent=2)
    gen_cfg = {'bos_token_id': vocab.bos, 'eos_token_id': [vocab.im_end, vocab.bos], 'pad_token_id': vocab.bos,
               'do_sample': True, 'temperature': 0.8, 'top_p': 1.0, 'max_new_tokens': 256}
    with open(os.path.join(out, 'generation_config.json'), 'w') as f:
        json.dump(gen_cfg, f, indent=2)
    for fn in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(TOKENIZER_DIR, fn), os.path.join(out, fn))
    print(f'{name}: {sum(t.numel() for t in tensors.values())} parameters, '
          f'{os.path.getsize(os.path.join(out, "model.safetensors")) / 1e6:.1f} MB')


def load(cls, fn):
    ck = torch.load(os.path.join(WORK, fn))
    m = cls(Qwen2Config(**ck['config']))
    m.load_state_dict(ck['state'])
    return m.eval()


import argparse  # noqa: E402
ap = argparse.ArgumentParser()
ap.add_argument('--generator', default='generator-shipped.pt')
ap.add_argument('--prm', default='prm.pt')
args = ap.parse_args()
gen = load(Qwen2ForCausalLM, args.generator)
prm = load(Qwen2ForPrmModel, args.prm)
export(gen, 'arith-generator', 'Qwen2ForCausalLM')
export(prm, 'arith-prm', 'Qwen2ForPrmModel', {'prm_input_format': 'chat', 'step_separator': '\n\n',
                                              'prm_input': 'the generator\'s format: the chat prompt, then each step followed by the "\\n\\n" token; '
                                                           'score = sigmoid(v_head) at each separator'})

# Fixture: 20 prompts (test problems, with 0..3 reference steps already written) for the generator,
# and 20 sampled held-out solutions (some with wrong steps) for the PRM.
test = read_jsonl(os.path.join(ROOT, 'data', 'arith-test.jsonl'))[:FIXTURE_PROMPTS]
gen_texts = []
for i, p in enumerate(test):
    steps = p['solution'].split(STEP_SEPARATOR)
    k = i % 4
    gen_texts.append(chat_prompt(p['problem']) + ''.join(s + STEP_SEPARATOR for s in steps[:k]))
gen_ids = [t[0] for t in tokenize([[t] for t in gen_texts])]
gen64 = gen.double()
gen_rows = []
with torch.no_grad():
    for i, (text, ids) in enumerate(zip(gen_texts, gen_ids)):
        logits = gen64(torch.tensor([ids]))[0]
        positions = [len(ids) - 3, len(ids) - 2, len(ids) - 1]
        rows = []
        for pos in positions:
            row = logits[pos]
            top = torch.topk(row, TOP_K)
            rows.append({'position': pos, 'top_ids': top.indices.tolist(), 'top_logits': [round(float(v), 6) for v in top.values]})
        entry = {'text': text, 'ids': ids, 'rows': rows}
        if i < FULL_ROWS:
            entry['last_logits'] = [round(float(v), 6) for v in logits[-1]]
        gen_rows.append(entry)

heldout = read_jsonl(os.path.join(WORK, 'prm-fixture-samples.jsonl'))
picked = [r for r in heldout if not all(r['labels'])][:10] + [r for r in heldout if all(r['labels'])][:10]
toks = tokenize([[chat_prompt(r['problem'])] + r['steps'] for r in picked])
prm64 = prm.double()
prm_rows = []
with torch.no_grad():
    for r, t in zip(picked, toks):
        ids, sep_pos = list(t[0]), []
        for s in t[1:]:
            ids += s + [vocab.sep]
            sep_pos.append(len(ids) - 1)
        scores = torch.sigmoid(prm64(torch.tensor([ids]))[0])
        prm_rows.append({'problem': r['problem'], 'steps': r['steps'], 'labels': r['labels'], 'ids': ids,
                         'separator_positions': sep_pos, 'scores': [round(float(scores[p]), 7) for p in sep_pos]})

fixture = {
    'about': 'PyTorch float64 outputs of models/arith-generator and models/arith-prm (tools/train/export.py)',
    'generator': {'model': 'models/arith-generator', 'prompts': gen_rows},
    'prm': {'model': 'models/arith-prm', 'prefix': 'the chat prompt', 'separator_id': vocab.sep, 'items': prm_rows},
}
os.makedirs(os.path.join(ROOT, 'tests', 'fixtures'), exist_ok=True)
with open(os.path.join(ROOT, 'tests', 'fixtures', 'bundled-models.json'), 'w') as f:
    json.dump(fixture, f, separators=(',', ':'))
print('fixture written')
