#!/usr/bin/env bash
# The main job end to end on a small corpus: read real presets, render one, build a Dexed dataset, train the
# generative model with the CPU recipe, evaluate it beside the reference rows (the mean preset, retrieval, and
# retrieval + refinement: what lookup and search reach without a model), match a sound, then match a real recording
# with Dexed's pretrained matcher. Called by `make demo` (which sets up .venv first).
# Environment: SHARED (folder holding data/dx7), PRESETS (extra preset folder), OUT (output folder),
# DEMO_LIMIT (corpus voices in the dataset, 1500), DEMO_PERTURBED (presets drawn near the corpus's voices, 7000: those
# of training voices train, about 5,600), DEMO_RANDOM (presets drawn uniformly, added to the training split, 0),
# DEMO_MODEL (flow_gen), DEMO_PRESET (training preset, cpu), DEMO_EPOCHS (40: a fixed count, so the run does not
# depend on the machine's speed), DEMO_ITEMS (test voices evaluated, 100), DEMO_BUDGET (seconds of search per test
# voice for the '+ refinement' rows, 1; 0 leaves those rows out).
set -euo pipefail

SHARED="${SHARED:-../shared}"
OUT="${OUT:-demo-output}"
LIMIT="${DEMO_LIMIT:-1500}"
PERTURBED_PRESETS="${DEMO_PERTURBED:-7000}"
RANDOM_PRESETS="${DEMO_RANDOM:-0}"
MODEL="${DEMO_MODEL:-flow_gen}"
PRESET="${DEMO_PRESET:-cpu}"
EPOCHS="${DEMO_EPOCHS:-40}"
ITEMS="${DEMO_ITEMS:-100}"
BUDGET="${DEMO_BUDGET:-1}"
here="$(cd "$(dirname "$0")" && pwd)"

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

store="$OUT/dx7-16.zarr"
synthetic=(--perturbed-presets "$PERTURBED_PRESETS")
if [[ "$RANDOM_PRESETS" != 0 ]]; then
  synthetic+=(--random-presets "$RANDOM_PRESETS")
fi
step "Build a dataset of up to $LIMIT distinct voices, $PERTURBED_PRESETS presets near them and $RANDOM_PRESETS random ones, 16 learned parameters (resumes if interrupted)"
patchflow dataset build --synth dexed --presets "${sources[@]}" --params 16 --limit "$LIMIT" \
  --split grouped "${synthetic[@]}" --out "$store"
patchflow dataset info "$store"

run="$OUT/runs/$MODEL"
step "Train $MODEL ($PRESET preset, $EPOCHS epochs; resumes if interrupted)"
if [[ -d "$run" ]]; then
  patchflow train --out "$run" --resume --epochs "$EPOCHS"
else
  patchflow train --data "$store" --model "$MODEL" --preset "$PRESET" --epochs "$EPOCHS" --out "$run"
fi

step "Evaluate on $ITEMS test voices, beside the mean preset, retrieval and retrieval + refinement ($BUDGET s of search each)"
patchflow evaluate "$run" --data "$store" --max-items "$ITEMS" --refine-budget "$BUDGET" --out "$OUT/report"
if [[ "$BUDGET" != 0 ]]; then
  step "What the model adds to lookup and search: $MODEL + refinement against retrieval + refinement, voice by voice"
  python "$here/compare_reports.py" "$OUT/report" "$MODEL + refinement" "$OUT/report" "Retrieval + refinement"
fi

step "Match a sound: a test-split voice the model never saw"
patchflow dataset export-audio "$store" --split test --index 0 --out "$OUT/target.wav"
patchflow match "$run" "$OUT/target.wav" --out "$OUT/match"

recording="$here/../examples/sounds/trumpet-g4.flac"
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
