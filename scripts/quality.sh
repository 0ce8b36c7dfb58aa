#!/usr/bin/env bash
# The quality table of the training guide, from scratch: a store of the shared DX7 corpus at 16 parameters split by
# author folder (the test voices are by authors the models never saw) plus random presets for training, `cnn`,
# `flow_post` and the generative `flow_gen` trained with the CPU recipe and the same time budget, then one
# evaluation of all three (flow_gen's plain row is its most likely candidate by its own likelihood, nothing
# rendered; its '+ retrieval' and '+ refinement' rows rank its samples and the neighbours by rendering) beside the
# reference rows (mean preset, retrieval, retrieval + refinement) on the test voices and, when its tools are
# installed, on out-of-domain recordings (scripts/build_ood_set.sh). Called by `make quality`; `make test` runs it
# at a tiny size (tests/test_quality_pipeline.py).
#
# Environment: SHARED (folder holding data/dx7), OUT (default quality-output), RANDOM_PRESETS (20000),
# PERTURBED_PRESETS (presets drawn near the corpus's voices, 0; see the training guide), LIMIT
# (distinct corpus voices kept; all by default), TRAIN_SECONDS (training budget per model, 1500), EPOCHS (cap, 200),
# ITEMS (test items evaluated, 500), BUDGET (seconds of search per item for the + refinement rows, 1), OOD (1 to
# build and score the out-of-domain set when fluidsynth and espeak-ng are installed, 0 to skip), MODELS
# ("cnn flow_post flow_gen"), WORKERS (render threads), PRESET (training preset, cpu).
set -euo pipefail

SHARED="${SHARED:-../shared}"
OUT="${OUT:-quality-output}"
RANDOM_PRESETS="${RANDOM_PRESETS:-20000}"
PERTURBED_PRESETS="${PERTURBED_PRESETS:-0}"
LIMIT="${LIMIT:-}"
TRAIN_SECONDS="${TRAIN_SECONDS:-1500}"
EPOCHS="${EPOCHS:-200}"
ITEMS="${ITEMS:-500}"
BUDGET="${BUDGET:-1}"
OOD="${OOD:-1}"
MODELS="${MODELS:-cnn flow_post flow_gen}"
PRESET="${PRESET:-cpu}"
WORKERS="${WORKERS:-}"
PATCHFLOW="${PATCHFLOW:-patchflow}"
step() { printf '\n== %s\n' "$*"; }
started=$(date +%s)
mkdir -p "$OUT"

store="$OUT/dx7-16.zarr"
step "build $store: the shared corpus at 16 parameters, split by author folder, $RANDOM_PRESETS random presets and \
$PERTURBED_PRESETS near the voices"
"$PATCHFLOW" dataset build --synth dexed --presets "$SHARED/data/dx7" --params 16 --split grouped \
  --group-by folder --random-presets "$RANDOM_PRESETS" --perturbed-presets "$PERTURBED_PRESETS" \
  ${LIMIT:+--limit "$LIMIT"} ${WORKERS:+--workers "$WORKERS"} \
  --out "$store" --no-progress
built=$(date +%s)

runs=()
for model in $MODELS; do
  run="$OUT/runs/$model"
  step "train $model ($PRESET preset, at most $TRAIN_SECONDS s)"
  if [[ -f "$run/checkpoints/last.pt" ]]; then
    "$PATCHFLOW" train --resume --out "$run" --no-progress
  else
    "$PATCHFLOW" train --data "$store" --model "$model" --preset "$PRESET" --epochs "$EPOCHS" \
      --set "time_limit_s=$TRAIN_SECONDS" --out "$run" --no-progress
  fi
  runs+=("$run")
done
trained=$(date +%s)

ood=()
if [[ "$OOD" == 1 ]]; then
  if command -v fluidsynth >/dev/null && command -v espeak-ng >/dev/null; then
    step "out-of-domain recordings"
    [[ -d "$OUT/ood/ood.zarr" ]] || PATCHFLOW="$PATCHFLOW" bash "$(dirname "$0")/build_ood_set.sh" "$store" "$OUT/ood"
    ood=(--ood "$OUT/ood/ood.zarr")
  else
    echo "out-of-domain set skipped: install fluidsynth fluid-soundfont-gm espeak-ng to score it" >&2
  fi
fi

step "evaluate ($ITEMS test items, $BUDGET s of search per item)"
"$PATCHFLOW" evaluate "${runs[@]}" --data "$store" "${ood[@]}" --max-items "$ITEMS" --refine-budget "$BUDGET" \
  --out "$OUT/report"
ended=$(date +%s)
echo "quality: build $(( built - started )) s, training $(( trained - built )) s, evaluation $(( ended - trained )) s;" \
  "report in $OUT/report"
