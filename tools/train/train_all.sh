#!/usr/bin/env bash
# The whole bundled-model pipeline, seeded end to end (CPU, Debian python3-torch + libopenblas0-pthread):
# splits -> tokenizer -> generator -> PRM (on the generator's own samples) -> export -> PyTorch evaluation.
# One torch thread per process: on the shared 2-core machine, 2 threads measured 4x slower (spin-waiting).
# Run from the repository root or anywhere: tools/train/train_all.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
W=tools/train/.work
npx tsx tools/train/make-splits.ts 150000
npx tsx tools/train/build-tokenizer.ts
rm -f $W/prm-train-samples.jsonl $W/prm-heldout-samples.jsonl
# Generator stage 1: 1400 steps (cosine, lr 2e-3) on train problems 0..44799.
/usr/bin/python3 tools/train/train_generator.py --seed 1234 --steps 1400 --batch 32 --hidden 160 --intermediate 448 --warmup 60 \
  --curve generator-stage1.csv
cp $W/generator.pt $W/generator-stage1.pt
# Generator stage 2: a second cosine schedule (lr 1.5e-3) from stage 1, on train problems 44800 onwards.
/usr/bin/python3 tools/train/train_generator.py --seed 1235 --init-from $W/generator-stage1.pt --steps 1750 --batch 32 \
  --hidden 160 --intermediate 448 --lr 1.5e-3 --warmup 50 --data-offset 44800 --curve generator-stage2.csv
/usr/bin/python3 tools/train/train_prm.py --seed 4321
/usr/bin/python3 tools/train/export.py
/usr/bin/python3 tools/train/evaluate.py --seed 77
/usr/bin/python3 tools/train/prm_auc.py
/usr/bin/python3 tools/train/summarize.py
