#!/usr/bin/env bash
# The whole bundled-model pipeline, seeded end to end (CPU, Debian python3-torch + libopenblas0-pthread):
# splits -> tokenizer -> generator -> PRM (on the generator's own samples) -> PyTorch evaluation -> export.
# Run from anywhere: tools/train/train_all.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=2
npx tsx tools/train/make-splits.ts 150000
npx tsx tools/train/build-tokenizer.ts
rm -f tools/train/.work/prm-train-samples.jsonl tools/train/.work/prm-heldout-samples.jsonl
/usr/bin/python3 tools/train/train_generator.py --seed 1234 --steps 2000 --batch 32
/usr/bin/python3 tools/train/train_prm.py --seed 4321
/usr/bin/python3 tools/train/export.py
/usr/bin/python3 tools/train/evaluate.py --seed 77 --per-level 40 --n 16
