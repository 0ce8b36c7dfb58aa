#!/usr/bin/env bash
# The main job end to end on a small corpus: read real presets, render one, build a Dexed dataset, train a small
# model, evaluate it and match a sound, then match a real recording with Dexed's pretrained matcher. Called by
# `make demo` (which sets up .venv first).
# Environment: SHARED (folder holding data/dx7), PRESETS (extra preset folder), OUT (output folder),
# DEMO_LIMIT (presets in the dataset), DEMO_EPOCHS (training epochs), DEMO_MODEL (model name).
set -euo pipefail

SHARED="${SHARED:-../shared}"
OUT="${OUT:-demo-output}"
LIMIT="${DEMO_LIMIT:-1500}"
EPOCHS="${DEMO_EPOCHS:-15}"
MODEL="${DEMO_MODEL:-flow_post}"

sources=()
if [[ -n "${PRESETS:-}" ]]; then
  if [[ ! -d "$PRESETS" ]]; then
    echo "PRESETS=$PRESETS is not a folder." >&2
    exit 2
  fi
  sources+=("$PRESETS")
fi
if [[ -d "$SHARED/data/dx7" ]]; then
  sources+=("$SHARED/data/dx7")
fi
if [[ ${#sources[@]} -eq 0 ]]; then
  cat >&2 <<MSG
No DX7 presets to learn from: neither $SHARED/data/dx7 exists nor was a folder given with PRESETS=DIR.
Put some DX7 .syx cartridges in a folder and run:   make demo PRESETS=/path/to/cartridges
MSG
  exit 2
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
mkdir -p "$OUT"

step "Installed synths"
patchflow synths

first_bank=$(find "${sources[0]}" -type f -iname '*.syx' -size 4104c | sort | sed -n 1p)
step "A real cartridge: $first_bank"
patchflow presets inspect "$first_bank"

step "Render its first voice"
patchflow render dexed "$first_bank" --index 0 --out "$OUT/first-voice.wav"

store="$OUT/dexed-16.zarr"
step "Build a dataset of up to $LIMIT distinct voices, 16 learned parameters (resumes if interrupted)"
patchflow dataset build --synth dexed --presets "${sources[@]}" --params 16 --limit "$LIMIT" \
  --split grouped --out "$store"
patchflow dataset info "$store"

run="$OUT/runs/$MODEL"
step "Train $MODEL (small preset, $EPOCHS epochs; resumes if interrupted)"
if [[ -d "$run" ]]; then
  patchflow train --out "$run" --resume --epochs "$EPOCHS"
else
  patchflow train --data "$store" --model "$MODEL" --preset small --epochs "$EPOCHS" --out "$run"
fi

step "Evaluate on the test split (with the mean-preset and retrieval reference rows)"
patchflow evaluate "$run" --data "$store" --out "$OUT/report"

step "Match a sound: a test-split voice the model never saw"
patchflow dataset export-audio "$store" --split test --index 0 --out "$OUT/target.wav"
patchflow match "$run" "$OUT/target.wav" --out "$OUT/match"

recording="$(cd "$(dirname "$0")/.." && pwd)/examples/sounds/trumpet-g4.flac"
step "Match a real recording with Dexed's pretrained matcher (no dataset, no training): $(basename "$recording")"
patchflow match "$recording" --synth dexed --top 4 --out "$OUT/match-trumpet"

step "Done. Files produced:"
printf '  %s\n' "$OUT/first-voice.wav" "$store" "$run" "$OUT/report/" "$OUT/match/" "$OUT/match-trumpet/"
cat <<MSG

The trumpet's DX7 voice: $OUT/match-trumpet/match.syx (a single-voice sysex, for a DX7 or any editor that sends
single voices) and $OUT/match-trumpet/candidates.syx (a 32-voice bank: the 4 best, MATCH first). To play it in
Dexed: click CART, then Load, choose candidates.syx, and pick MATCH in the program list. Listen to it first in
$OUT/match-trumpet/match.wav beside the recording.
MSG
