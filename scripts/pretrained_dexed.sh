#!/usr/bin/env bash
# The pretrained Dexed matcher that `patchflow match SOUND --synth dexed` uses, from scratch: a store of the shared
# DX7 corpus at 16 parameters (split by author folder, fixed seed), one model trained on it for a fixed number of
# epochs (so a rerun gives the same weights; the time limit is only a safety cap), a second store of the corpus's
# whole voices (every parameter; the same split, author folder by author folder: --split-like), the retrieval
# index of the distinct whole voices of the training and validation authors (the test authors stay out, for the
# model card; matching then retrieves and searches whole voices, the model's proposals completed by its base), the
# bundle (config.json, data.json, checkpoints/best.pt and best.json, index.npz) copied into the dexed adapter's
# package data, and the model card's figures (metrics.json). Called by `make pretrained`; the tests run it at a
# tiny size into a temporary folder (LIMIT=150 EPOCHS=1 CARD_COUNT=2 RECORDINGS=none DEST=...).
#
# Environment: SHARED (folder holding data/dx7, default ../shared), OUT (work folder: store, run, smoke test;
# default build/pretrained), DEST (where the bundle goes, default adapters/dexed/patchflow_dexed/pretrained),
# MODEL (flow_post), PRESET (training sizes, cpu), EPOCHS (40), MINUTES (time cap of the training, 60), LIMIT
# (distinct corpus voices kept; all by default), SEED (0), DIMS (principal components of the index, 128),
# INDEX_SPLIT (rows indexed: train, train+valid or all; default train+valid), INDEX_PARAMS (parameters of the
# indexed voices: all, whole voices, the default; or 16, the model's parameters over its base preset), WORKERS (render threads), MAX_MB (largest
# bundle accepted, 25), PATCHFLOW (the command, default patchflow); for the model card's figures
# (scripts/matcher_card.py, written to DEST/metrics.json and OUT/card.md): CARD_COUNT (held-out voices, 60),
# CARD_BUDGET (search seconds, 2: match's default), CARD_METRIC (the search's distance, match's default),
# RECORDINGS (auto: scripts/build_ood_set.sh when fluidsynth and espeak-ng are installed; none; or a folder).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
SHARED="${SHARED:-../shared}"
OUT="${OUT:-build/pretrained}"
# relative to the working folder, as the model card records it
DEST="${DEST:-$(realpath --relative-to=. "$here/../adapters/dexed/patchflow_dexed/pretrained")}"
MODEL="${MODEL:-flow_post}"
PRESET="${PRESET:-cpu}"
MINUTES="${MINUTES:-60}"
EPOCHS="${EPOCHS:-40}"
LIMIT="${LIMIT:-}"
SEED="${SEED:-0}"
DIMS="${DIMS:-128}"
INDEX_SPLIT="${INDEX_SPLIT:-train+valid}"
INDEX_PARAMS="${INDEX_PARAMS:-all}"
WORKERS="${WORKERS:-}"
MAX_MB="${MAX_MB:-25}"
PATCHFLOW="${PATCHFLOW:-patchflow}"
CARD_COUNT="${CARD_COUNT:-60}"
CARD_BUDGET="${CARD_BUDGET:-2}"
CARD_METRIC="${CARD_METRIC:-sc+db}"
RECORDINGS="${RECORDINGS:-auto}"
PYTHON="${PYTHON:-python3}"
step() { printf '\n== %s\n' "$*"; }
started=$(date +%s)
mkdir -p "$OUT"

store="$OUT/dx7-16.zarr"
step "build $store: the shared DX7 corpus at 16 parameters, split by author folder, seed $SEED"
"$PATCHFLOW" dataset build --synth dexed --presets "$SHARED/data/dx7" --params 16 --split grouped \
  --group-by folder --seed "$SEED" ${LIMIT:+--limit "$LIMIT"} ${WORKERS:+--workers "$WORKERS"} \
  --out "$store" --no-progress
voices="$store"
if [[ "$INDEX_PARAMS" != "16" ]]; then
  voices="$OUT/dx7-$INDEX_PARAMS.zarr"
  step "build $voices: the same corpus's voices at $INDEX_PARAMS parameters, split as $store"
  "$PATCHFLOW" dataset build --synth dexed --presets "$SHARED/data/dx7" --params "$INDEX_PARAMS" --split grouped \
    --group-by folder --seed "$SEED" --split-like "$store" ${LIMIT:+--limit "$LIMIT"} \
    ${WORKERS:+--workers "$WORKERS"} --out "$voices" --no-progress
fi
built=$(date +%s)

run="$OUT/run"
step "train $MODEL ($PRESET preset, $EPOCHS epochs, at most $MINUTES minutes)"
if [[ -f "$run/checkpoints/last.pt" ]]; then
  "$PATCHFLOW" train --resume --out "$run" --no-progress
else
  # float32 whatever the CPU (cpu_amp=false) and grids of at most 64 values classified (the cpu preset's until
  # 2026-12-04; it now classifies grids of 100): the shipped weights were trained so, and a rerun repeats them
  "$PATCHFLOW" train --data "$store" --model "$MODEL" --preset "$PRESET" --epochs "$EPOCHS" --seed "$SEED" \
    --set "time_limit_s=$(( MINUTES * 60 ))" --set cpu_amp=false --set model.classify_steps=64 --out "$run" \
    --no-progress
fi
trained=$(date +%s)

step "index the distinct voices of $voices ($INDEX_SPLIT rows, $DIMS dimensions)"
"$PATCHFLOW" index build "$run" --data "$voices" --split "$INDEX_SPLIT" --dims "$DIMS" --seed "$SEED" --no-progress

step "copy the bundle into $DEST"
mkdir -p "$DEST/checkpoints"
rm -f "$DEST/config.json" "$DEST/data.json" "$DEST/index.npz" "$DEST/checkpoints/best.pt" "$DEST/checkpoints/best.json" \
  "$DEST/metrics.json"
cp "$run/config.json" "$run/data.json" "$run/index.npz" "$DEST/"
cp "$run/checkpoints/best.pt" "$run/checkpoints/best.json" "$DEST/checkpoints/"
# The bundle travels: it names its store by folder name only, not by this machine's paths.
"$PYTHON" - "$DEST" <<'PY'
import json, sys
from pathlib import Path

dest = Path(sys.argv[1])
config = json.loads((dest / "config.json").read_text())
config.update(data=Path(config["data"]).name, out=".")
(dest / "config.json").write_text(json.dumps(config, indent=2) + "\n")
data = json.loads((dest / "data.json").read_text())
data.pop("absolute_path", None)
data["path"] = Path(data["path"]).name
source = data.get("base_preset", {}).get("source") or {}
if source.get("path"):
    source["path"] = Path(source["path"]).name
(dest / "data.json").write_text(json.dumps(data, indent=2) + "\n")
PY
bytes=$(du -cb "$DEST/config.json" "$DEST/data.json" "$DEST/index.npz" "$DEST/checkpoints/best.pt" \
  "$DEST/checkpoints/best.json" | tail -n 1 | cut -f 1)
echo "bundle: $(( bytes / 1024 )) KiB"
if (( bytes > MAX_MB * 1000 * 1000 )); then
  echo "the bundle is larger than $MAX_MB MB: lower DIMS or use a smaller PRESET" >&2
  exit 1
fi

step "smoke test: match a test voice of the store with the bundle"
"$PATCHFLOW" dataset export-audio "$voices" --split test --index 0 --out "$OUT/smoke/target.wav"
"$PATCHFLOW" match "$OUT/smoke/target.wav" --run "$DEST" --budget 1 --out "$OUT/smoke/match" --no-progress
checked=$(date +%s)

# The model card's figures: match against retrieval alone on the test split's voices (authors out of training and
# out of the index) played at other notes, and on recordings (scripts/build_ood_set.sh) when they can be made.
recordings=()
case "$RECORDINGS" in
  none) ;;
  auto)
    if command -v fluidsynth >/dev/null && command -v espeak-ng >/dev/null \
        && [[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]]; then
      [[ -d "$OUT/ood/audio" ]] || PYTHON="$PYTHON" PATCHFLOW="$PATCHFLOW" \
        bash "$here/build_ood_set.sh" "$store" "$OUT/ood" >/dev/null
      recordings=(--recordings "$OUT/ood/audio")
    else
      echo "no recordings in the card: scripts/build_ood_set.sh needs fluidsynth, fluid-soundfont-gm and espeak-ng"
    fi ;;
  *) recordings=(--recordings "$RECORDINGS") ;;
esac
step "model card figures: $CARD_COUNT held-out voices${recordings:+ and the recordings}, ${CARD_BUDGET} s of search"
"$PYTHON" "$here/matcher_card.py" --bundle "$DEST" --data "$voices" "${recordings[@]}" --count "$CARD_COUNT" \
  --budget "$CARD_BUDGET" --metric "$CARD_METRIC" --seed "$SEED" ${WORKERS:+--workers "$WORKERS"} \
  --json "$DEST/metrics.json" --markdown "$OUT/card.md" 2>"$OUT/card.log"
ended=$(date +%s)
echo "pretrained: build $(( built - started )) s, training $(( trained - built )) s, index and checks" \
  "$(( checked - trained )) s, card $(( ended - checked )) s; bundle in $DEST, its figures in $OUT/card.md"
