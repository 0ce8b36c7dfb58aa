"""DX7 sysex reading and writing (provisional: banks only; the full reader replaces this)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from patchflow import ParseResult, Preset, PresetFormatError, PresetSource

from .parameters import VCED_ORDER
from .synth import SYNTH_ID


class Dx7SysexParser:
    name = "dx7-sysex"
    synth = SYNTH_ID

    def recognises(self, path: Path, head: bytes) -> bool:
        return path.suffix.lower() == ".syx" or head[:2] == b"\xf0\x43"

    def parse(self, path: Path) -> ParseResult:
        import dexed

        try:
            patches = dexed.Patch.load_bank(str(path))
        except (ValueError, OSError) as exc:
            raise PresetFormatError(str(exc), path) from None
        presets = []
        for i, patch in enumerate(patches):
            raw = patch.to_sysex()
            presets.append(Preset(synth=SYNTH_ID, name=patch.name.strip(),
                                  values={n: float(raw[k]) for k, n in enumerate(VCED_ORDER)},
                                  source=PresetSource(path=str(path), index=i)))
        return ParseResult(path=str(path), parser=self.name, presets=presets)


class Dx7SysexWriter:
    name = "dx7-sysex"
    synth = SYNTH_ID
    suffixes = (".syx",)

    def write(self, presets: Sequence[Preset], path: Path) -> Path:
        raise NotImplementedError
