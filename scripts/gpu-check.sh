#!/usr/bin/env bash
# The GPU path in one short run (at most ~8 minutes on one GPU): build (or read) a Dexed store, train `cnn` and
# `flow_post` at the paper's sizes with mixed precision for a fixed number of steps, print the training throughput,
# resume each run once, and evaluate both on the test split.
#
#   scripts/gpu-check.sh                     # SHARED=../shared, OUT=gpu-check-output, DEVICE=cuda
#
# Environment: SHARED (folder holding data/dx7), STORE (an existing store to read instead of building one), OUT,
# DEVICE (cuda, cuda:N, or cpu to try the script itself), STEPS (optimisation steps per model, default 400),
# LIMIT (presets of the store it builds, default 4000), BATCH (default 64, the paper's), ITEMS (test items, 200).
# Runs unchanged on a machine without the project's data only if STORE is given.
set -euo pipefail

SHARED="${SHARED:-../shared}"
OUT="${OUT:-gpu-check-output}"
DEVICE="${DEVICE:-cuda}"
STEPS="${STEPS:-400}"
LIMIT="${LIMIT:-4000}"
BATCH="${BATCH:-64}"
ITEMS="${ITEMS:-200}"
PATCHFLOW="${PATCHFLOW:-patchflow}"
PYTHON="${PYTHON:-python3}"
store="${STORE:-$OUT/dx7-16.zarr}"
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

step "device"
"$PYTHON" - "$DEVICE" <<'PY'
import sys, torch
device = sys.argv[1]
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit(f"{device} asked for, but torch {torch.__version__} sees no CUDA device")
    index = torch.device(device).index or 0
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(index)}")
else:
    print(f"torch {torch.__version__} on {device}")
PY

if [[ ! -d "$store" ]]; then
  step "build $store ($LIMIT presets, 16 parameters, split by author folder)"
  "$PATCHFLOW" dataset build --synth dexed --presets "$SHARED/data/dx7" --params 16 --limit "$LIMIT" \
    --split grouped --group-by folder --out "$store" --no-progress
fi

half=$(( STEPS / 2 ))
runs=()
for model in cnn flow_post; do
  run="$OUT/runs/$model"
  rm -rf "$run"
  step "$model: paper sizes, AMP, $half steps, then resume for $half more"
  # one "epoch" is capped at half the steps: epoch 1 trains, the resume trains epoch 2 from its checkpoint
  "$PATCHFLOW" train --data "$store" --model "$model" --preset paper --device "$DEVICE" --batch-size "$BATCH" \
    --epochs 1 --max-batches "$half" --set amp=true --set beta_warmup_epochs=0 --out "$run" --no-progress
  "$PATCHFLOW" train --resume --out "$run" --epochs 2 --no-progress
  "$PYTHON" - "$run" "$BATCH" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/metrics.csv")))
batch = int(sys.argv[2])
steps = [int(r["step"]) for r in rows]
per_epoch = [steps[0]] + [b - a for a, b in zip(steps, steps[1:])]
for r, n in zip(rows, per_epoch):
    print(f"epoch {r['epoch']}: {n} steps in {float(r['seconds']):.1f} s = {n * batch / float(r['seconds']):.0f} samples/s"
          f" (train loss {float(r['train_loss']):.4g}, valid loss {float(r.get('valid_loss') or 'nan'):.4g})")
assert len(rows) == 2, "the resume did not train a second epoch"
PY
  runs+=("$run")
done

step "evaluate on $ITEMS test items"
"$PATCHFLOW" evaluate "${runs[@]}" --data "$store" --device "$DEVICE" --max-items "$ITEMS" --out "$OUT/report"
echo "gpu-check: done ($OUT)"
