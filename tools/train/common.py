"""Shared pieces of the training pipeline: paths, the prompt formats, tokenization through Node (the
engine's own tokenizer library), id -> text decoding, and the seeded set-up."""
import json
import os
import random
import subprocess
import tempfile

import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
WORK = os.path.join(ROOT, 'tools', 'train', '.work')
TOKENIZER_DIR = os.path.join(WORK, 'tokenizer')
if not os.path.exists(os.path.join(TOKENIZER_DIR, 'tokenizer.json')):  # no training run here: the committed copy
    TOKENIZER_DIR = os.path.join(ROOT, 'models', 'arith-generator')
CURVES = os.path.join(ROOT, 'tools', 'train', 'curves')

SYSTEM_PROMPT = 'Please reason step by step, and put your final answer within \\boxed{}.'
STEP_SEPARATOR = '\n\n'
BOS, IM_START, IM_END = '<|endoftext|>', '<|im_start|>', '<|im_end|>'


def chat_prompt(problem: str) -> str:
    """Same text as src/tasks/arithmetic.ts chatPrompt (checked by tests/bundled-models.test.ts)."""
    return f'{IM_START}system\n{SYSTEM_PROMPT}{IM_END}\n{IM_START}user\n{problem}{IM_END}\n{IM_START}assistant\n'


def prm_input(problem_and_steps, separator):
    """PRM input ids from one tokenized item [prompt ids, step ids, ...] (each step tokenized on its own):
    every step followed by the separator token (the bundled PRM's: "\n\n", the generator's step delimiter)."""
    ids = list(problem_and_steps[0])
    for step in problem_and_steps[1:]:
        ids += step + [separator]
    return ids


def setup(seed: int, threads: int = 1):
    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def tokenize(texts_per_item):
    """[[text, ...], ...] -> [[ids, ...], ...] via tools/train/tokenize.ts (@huggingface/tokenizers)."""
    with tempfile.TemporaryDirectory() as d:
        inp, out = os.path.join(d, 'in.jsonl'), os.path.join(d, 'out.jsonl')
        with open(inp, 'w') as f:
            for texts in texts_per_item:
                f.write(json.dumps({'texts': texts}) + '\n')
        subprocess.run(['npx', 'tsx', 'tools/train/tokenize.ts', TOKENIZER_DIR, inp, out], cwd=ROOT, check=True)
        return [r['ids'] for r in read_jsonl(out)]


class Vocab:
    """Token ids of the special tokens and byte-level decoding (the inverse of GPT-2's byte map)."""

    def __init__(self, tokenizer_dir=TOKENIZER_DIR):
        with open(os.path.join(tokenizer_dir, 'tokenizer.json')) as f:
            tj = json.load(f)
        self.id_to_token = {i: t for t, i in tj['model']['vocab'].items()}
        self.special = {t['content']: t['id'] for t in tj['added_tokens']}
        for t, i in self.special.items():
            self.id_to_token[i] = t
        self.size = max(self.id_to_token) + 1
        self.bos, self.im_start, self.im_end = self.special[BOS], self.special[IM_START], self.special[IM_END]
        self.sep = tj['model']['vocab']['ĊĊ']  # "\n\n": the generator's step delimiter
        keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        byte_of, extra = {}, 0
        for b in range(256):
            if b in keep:
                byte_of[chr(b)] = b
            else:
                byte_of[chr(256 + extra)] = b
                extra += 1
        self.byte_of = byte_of

    def decode(self, ids) -> str:
        out, buf = [], bytearray()
        for i in ids:
            t = self.id_to_token.get(int(i), '')
            if int(i) in self.special.values():
                out.append(buf.decode('utf-8', 'replace'))
                buf = bytearray()
                out.append(t)
            else:
                buf.extend(self.byte_of[ch] for ch in t)
        out.append(buf.decode('utf-8', 'replace'))
        return ''.join(out)
