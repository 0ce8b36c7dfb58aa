#!/usr/bin/env bash
# Build an out-of-domain evaluation set: orchestral instruments and other synths played by fluidsynth from the
# FluidR3 General MIDI soundfont, and speech from espeak-ng, imported with the features of a reference store.
#
#   scripts/build_ood_set.sh REFERENCE.zarr OUT_DIR
#
# Needs (Debian/Ubuntu): sudo apt-get install fluidsynth fluid-soundfont-gm espeak-ng
# Writes OUT_DIR/audio/{instruments,synths,voices}/*.wav and OUT_DIR/ood.zarr.
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 REFERENCE.zarr OUT_DIR" >&2
    exit 2
fi
REFERENCE=$1
OUT=$2
SOUNDFONT=${SOUNDFONT:-/usr/share/sounds/sf2/FluidR3_GM.sf2}
PYTHON=${PYTHON:-python3}
PATCHFLOW=${PATCHFLOW:-patchflow}
NOTE=${NOTE:-60}
RATE=${RATE:-22050}

missing=()
command -v fluidsynth >/dev/null || missing+=(fluidsynth)
[[ -f $SOUNDFONT ]] || missing+=(fluid-soundfont-gm)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "missing: ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

mkdir -p "$OUT/audio/instruments" "$OUT/audio/synths" "$OUT/audio/voices" "$OUT/midi"

# General MIDI programs (0-based): acoustic instruments, then the synth leads and pads (other synthesizers).
INSTRUMENTS="0:piano 6:harpsichord 11:vibraphone 19:church_organ 21:accordion 24:nylon_guitar 32:acoustic_bass
40:violin 42:cello 46:harp 48:strings 52:choir_aahs 56:trumpet 57:trombone 60:french_horn 65:alto_sax 68:oboe
71:clarinet 73:flute 75:pan_flute 105:banjo 108:kalimba 114:steel_drums"
SYNTHS="80:square_lead 81:saw_lead 84:charang 87:bass_lead 88:new_age_pad 89:warm_pad 90:polysynth_pad
91:choir_pad 94:halo_pad 95:sweep_pad 38:synth_bass_1 39:synth_bass_2 62:synth_brass 63:synth_brass_2"

# One note held 3 s in a 4 s file, like the synth renders.
write_midi() {  # program note path
    "$PYTHON" "$(dirname "$0")/note_midi.py" "$1" "$2" "$3"
}

render_programs() {  # list folder
    for entry in $1; do
        program=${entry%%:*}
        name=${entry#*:}
        write_midi "$program" "$NOTE" "$OUT/midi/$name.mid"
        fluidsynth -ni -q -F "$OUT/audio/$2/$name.wav" -r "$RATE" -g 0.4 "$SOUNDFONT" "$OUT/midi/$name.mid" >/dev/null
    done
}

render_programs "$INSTRUMENTS" instruments
render_programs "$SYNTHS" synths

SENTENCES=("The quick brown fox jumps over the lazy dog." "Play me a note." "Synthesizers map knobs to sound."
           "Aaaaaaaah." "One two three four.")
VOICES=(en en+f3 en+m3 en-us+f2 fr de es)
i=0
for voice in "${VOICES[@]}"; do
    for sentence in "${SENTENCES[@]}"; do
        espeak-ng -v "$voice" -w "$OUT/audio/voices/voice_$(printf %02d $i)_${voice//+/_}.wav" "$sentence"
        i=$((i + 1))
    done
done

"$PATCHFLOW" dataset import-audio "$OUT/audio" --like "$REFERENCE" --out "$OUT/ood.zarr" --overwrite
echo "out-of-domain set: $OUT/ood.zarr"
