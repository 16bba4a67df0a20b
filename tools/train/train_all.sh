#!/usr/bin/env bash
# The whole bundled-model pipeline, seeded end to end (CPU, Debian python3-torch + libopenblas0-pthread):
# splits -> tokenizer -> generator -> PRM (on the generator's own samples) -> export -> PyTorch evaluation.
# One torch thread per process: on the shared 2-core machine, 2 threads measured 4x slower (spin-waiting).
# Run from the repository root or anywhere: tools/train/train_all.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# torch.set_num_threads(1) does not reach OpenBLAS's own thread pool: pin both, or BLAS spins a second thread.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
W=tools/train/.work
npx tsx tools/train/make-splits.ts 400000
npx tsx tools/train/build-tokenizer.ts
rm -f $W/prm-train-samples.jsonl $W/prm-heldout-samples.jsonl
# Generator: a cosine schedule (peak lr 2e-3) laid over 5000 steps of 32 fresh train problems each, stopped
# after 4500 (lr already down to 7% of peak; the session that trained the bundled model ran out of time there).
/usr/bin/python3 tools/train/train_generator.py --seed 1234 --steps 5000 --batch 32 --hidden 160 --intermediate 448 --warmup 100 --stop-after 4500 \
  --curve generator.csv
# Contested sibling steps of validation problems (same prefix, some sampled next steps right, some wrong): the
# ranking beam search asks of the PRM, measured by train_prm.py alongside the step AUC.
/usr/bin/python3 tools/train/sample_siblings.py --split validation --seed 777 --first 350 --problems 140 --siblings 8 \
  --keep-agreeing 0 --out prm-siblings-heldout.jsonl
/usr/bin/python3 tools/train/train_prm.py --seed 4321 --write-heldout --heldout-siblings prm-siblings-heldout.jsonl
/usr/bin/python3 tools/train/export.py
/usr/bin/python3 tools/train/evaluate.py --seed 77
/usr/bin/python3 tools/train/prm_auc.py
/usr/bin/python3 tools/train/summarize.py
