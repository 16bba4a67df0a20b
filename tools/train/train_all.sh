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
/usr/bin/python3 tools/train/train_generator.py --seed 1234 --steps 1400 --batch 32 --hidden 160 --intermediate 448 --warmup 60
/usr/bin/python3 tools/train/train_prm.py --seed 4321
/usr/bin/python3 tools/train/export.py
/usr/bin/python3 tools/train/evaluate.py --seed 77
