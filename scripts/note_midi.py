#!/usr/bin/env python
"""Write a minimal type-0 standard MIDI file: one note held 3 s in a 4 s file, like the synth renders.

    python scripts/note_midi.py PROGRAM NOTE OUT.mid      (PROGRAM: General MIDI program, 0-based)

Used by ``scripts/build_ood_set.sh`` and ``scripts/example_recording.sh`` to play instruments with fluidsynth.
"""

import struct
import sys

TICKS = 480  # per quarter note; at the default 120 bpm, 960 ticks per second


def variable_length(n: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [n & 0x7F]
    while n > 127:
        n >>= 7
        out.insert(0, (n & 0x7F) | 0x80)
    return bytes(out)


def main() -> None:
    program, note, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    events = (variable_length(0) + bytes([0xC0, program]) + variable_length(0) + bytes([0x90, note, 100])
              + variable_length(3 * 960) + bytes([0x80, note, 0]) + variable_length(960) + b"\xff\x2f\x00")
    with open(path, "wb") as f:
        f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS))
        f.write(b"MTrk" + struct.pack(">I", len(events)) + events)


if __name__ == "__main__":
    main()
