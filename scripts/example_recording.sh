#!/usr/bin/env bash
# The recording `make demo` matches: a trumpet of the FluidR3 General MIDI soundfont (sampled instruments, MIT
# license) playing G4 (MIDI 67), held 3 s in a 4 s file, mono FLAC at 22,050 Hz.
#
#   scripts/example_recording.sh [OUT]     (default examples/sounds/trumpet-g4.flac)
#
# Needs (Debian/Ubuntu): sudo apt-get install fluidsynth fluid-soundfont-gm. The file is committed, so the demo
# needs neither; this is how it was made.
set -euo pipefail
OUT=${1:-examples/sounds/trumpet-g4.flac}
SOUNDFONT=${SOUNDFONT:-/usr/share/sounds/sf2/FluidR3_GM.sf2}
PYTHON=${PYTHON:-python3}
PROGRAM=56  # General MIDI trumpet (0-based)
NOTE=67
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" "$(dirname "$0")/note_midi.py" "$PROGRAM" "$NOTE" "$tmp/note.mid"
fluidsynth -ni -q -F "$tmp/note.wav" -r 22050 -g 0.4 "$SOUNDFONT" "$tmp/note.mid" >/dev/null
"$PYTHON" - "$tmp/note.wav" "$OUT" <<'PY'
import sys
import numpy as np
import soundfile
audio, rate = soundfile.read(sys.argv[1], dtype="float32", always_2d=True)
mono = audio.mean(axis=1)[: 4 * rate]
soundfile.write(sys.argv[2], mono, rate, format="FLAC", subtype="PCM_16")
print(f"{sys.argv[2]}: {len(mono) / rate:.2f} s at {rate} Hz, peak {np.abs(mono).max():.2f}")
PY
