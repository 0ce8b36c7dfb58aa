"""The DX7 sysex preset reader and writer patchflow's plugin hooks register."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from patchflow import ParseResult, Preset, PresetFormatError

from . import sysex
from .sysex import SYNTH_ID

WriteMode = Literal["auto", "bank", "voice"]


class Dx7SysexParser:
    """Reads DX7 voice data: 32-voice banks, single voices, headerless payloads, files holding several dumps.

    See :mod:`patchflow_dexed.sysex` for what is done with damaged data.
    """

    name = "dx7-sysex"
    synth = SYNTH_ID

    def recognises(self, path: Path, head: bytes) -> bool:
        """Claim ``.syx`` files and any file whose first bytes hold a Yamaha DX7 voice dump header."""
        if path.suffix.lower() == ".syx":
            return True
        start = head.find(bytes([sysex.SYSEX_START, sysex.YAMAHA]))
        return start != -1 and sysex._classify(head, start) is not None

    def parse(self, path: Path) -> ParseResult:
        """Read every voice of the file.

        Raises:
            PresetFormatError: Not one voice can be read (or reading failed in any other way: this parser raises
                nothing else).
        """
        return _guarded(sysex.read_sysex_file, path, path)

    def parse_bytes(self, data: bytes, name: str = "<bytes>") -> ParseResult:
        """Read every voice of sysex bytes held in memory (``name`` labels them in sources and messages).

        Raises:
            PresetFormatError: Not one voice can be read.
        """
        return _guarded(sysex.read_sysex, name, data, name)


def _guarded(read: Callable[..., ParseResult], where: str | Path, *args: object) -> ParseResult:
    """``read(*args)`` with any failure but :class:`PresetFormatError` turned into one for ``where``: a damaged
    cartridge costs that file only, whatever it trips over."""
    try:
        return read(*args)
    except PresetFormatError:
        raise
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
        raise PresetFormatError(f"cannot read DX7 sysex: {reason}", where) from None


class Dx7SysexWriter:
    """Writes Dexed presets as DX7 sysex that Dexed and a real DX7 load.

    Args:
        mode: ``"bank"`` writes a 32-voice bank (filled up with INIT VOICE), ``"voice"`` a single-voice dump (one
            preset only), ``"auto"`` a single voice for one preset and a bank for 2-32.
    """

    name = "dx7-sysex"
    synth = SYNTH_ID
    suffixes = (".syx",)

    def __init__(self, mode: WriteMode = "auto") -> None:
        if mode not in ("auto", "bank", "voice"):
            raise ValueError(f"mode must be auto, bank or voice, got {mode!r}")
        self.mode = mode

    def write(self, presets: Sequence[Preset], path: Path) -> Path:
        """Write ``presets`` to ``path`` and return it.

        Raises:
            PresetFormatError: No presets, more than 32 (a bank's size; see :func:`sysex.write_banks`), several
                presets in ``voice`` mode, or a preset that cannot be encoded.
        """
        presets = list(presets)
        if not presets:
            raise PresetFormatError("no presets to write", path)
        mode = self.mode
        if mode == "auto":
            mode = "voice" if len(presets) == 1 else "bank"
        if mode == "voice":
            if len(presets) != 1:
                raise PresetFormatError(f"a single-voice file holds one preset, got {len(presets)}", path)
            return sysex.write_voice(presets[0], path)
        return sysex.write_bank(presets, path)
