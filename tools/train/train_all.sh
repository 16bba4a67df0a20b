#!/usr/bin/env bash
# The whole bundled-model pipeline, seeded end to end (CPU, Debian python3-torch + libopenblas0-pthread):
# splits -> tokenizer -> generator (one run, checkpoints kept) -> the generator's own samples -> PRM -> export.
# One torch thread per process: on the shared 2-core machine, 2 threads measured 4x slower (spin-waiting).
# Run from the repository root or anywhere: tools/train/train_all.sh   (about 1 h 15 min on the 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
P=/usr/bin/python3
T=tools/train
W=$T/.work
npx tsx $T/make-splits.ts 200000
npx tsx $T/build-tokenizer.ts
# One generator run, a checkpoint every 100 steps: step 700 is shipped (greedy in the 25-75% band, its samples
# reach the right step far more often than its greedy path), step 2000 is the PRM's backbone (greedy 89.7%).
$P $T/train_generator.py --seed 1234 --steps 3000 --stop-after 2000 --batch 32 --hidden 128 --intermediate 384 --warmup 100 \
  --keep-every 100 --curve generator.csv
cp $W/generator-step700.pt $W/generator-shipped.pt
cp $W/generator.pt $W/generator-strong.pt
# Held-out sibling steps (what beam search asks of the verifier) and the generator's own solutions to train on.
$P $T/sample_steps.py siblings --model generator-step800.pt --split validation --problems 140 --k 8 --seed 11 --out siblings-val.jsonl
$P $T/sample_steps.py siblings --model generator-shipped.pt --split validation --problems 140 --k 8 --seed 11 --out siblings-val-700.jsonl
$P $T/sample_steps.py solutions --model generator-step800.pt --split train --first 150000 --problems 2500 --k 8 --seed 12 --out prm-samples.jsonl
# PRM: the strong checkpoint, frozen and widened, with three fresh layers built to compute how surprised it is by
# each written token and a soft maximum of that over the solution (construct_prm.py, seconds); then its read-out
# (that maximum's sharpness, the value head's scale and bias) trained on the exact labels of the generator's
# own sampled solutions (fit_prm.py, about 15 minutes).
$P $T/construct_prm.py --backbone generator-strong.pt --out prm-k.pt
$P $T/fit_prm.py --init prm-k.pt --samples prm-samples.jsonl --solutions 1000 --steps 100 --out prm-k-fit.pt
$P $T/export.py --generator generator-shipped.pt --prm prm-k-fit.pt
$P $T/sample_steps.py solutions --model generator-shipped.pt --split validation --problems 140 --k 6 --seed 21 --out "$PWD/data/prm-heldout.jsonl"
$P $T/sibling_ranking.py --prm bundled:arith-prm --siblings siblings-val-700.jsonl
