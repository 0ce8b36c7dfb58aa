"""Dexed (DX7) rendering through the ``dexed-py`` engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from patchflow import ParameterSpec, Preset, PresetFormatError, RenderError, RenderSettings, Synth

from .parameters import DX7_PARAMETERS
from .sysex import NAME_SIZE, SYNTH_ID, preset_to_vced, vectors_to_vced

#: The voice name rows rendered from bare vectors carry (names do not change the sound).
_ROW_NAME = b" " * NAME_SIZE


def _voice_loader(engine: Any) -> Callable[[bytes], None]:
    """A function loading a 156-byte voice (VCED parameters, name, operator switches) into a dexed-py engine.

    dexed-py's public route parses the bytes into a ``Patch`` and serialises it back (about 0.07 ms of Python per
    voice, holding the GIL that the other render threads need). The bytes patchflow builds are clamped to the DX7
    ranges, so the round trip returns their parameter bytes unchanged (tested); when the engine exposes its raw loader
    (dexed-py 0.3), the bytes go straight to it.
    """
    raw = getattr(getattr(engine, "_synth", None), "load_sysex", None)
    if callable(raw):
        return raw

    def through_patch(voice: bytes) -> None:
        import dexed

        engine.load_patch(dexed.Patch.from_sysex(voice))

    return through_patch


class DexedSynth(Synth):
    """The DX7 emulated by Dexed's engine: 145 parameters, one note per render, deterministic.

    The engine's output is not bounded to [-1, 1] (real voices peak near 2.4); ``render`` returns it unscaled and
    :func:`patchflow.audio.write_wav` scales when writing files.
    """

    id = SYNTH_ID
    display_name = "Dexed (Yamaha DX7)"

    def __init__(self) -> None:
        self._engines: dict[int, object] = {}

    def parameter_specs(self) -> Sequence[ParameterSpec]:
        return DX7_PARAMETERS

    def default_preset(self) -> Preset:
        """Dexed's INIT VOICE: a plain sine on operator 1 (algorithm 1), which makes sound."""
        preset = super().default_preset()
        return preset.model_copy(update={"name": "INIT VOICE"})

    def _engine(self, sample_rate: int):
        engine = self._engines.get(sample_rate)
        if engine is None:
            import dexed

            engine = self._engines[sample_rate] = dexed.DexedSynth(sample_rate=float(sample_rate))
        return engine

    def render(self, preset: Preset, settings: RenderSettings) -> np.ndarray:
        try:
            engine = self._engine(int(settings.sample_rate))
            _voice_loader(engine)(preset_to_vced(preset) + b"\x3f")
            audio = self._play(engine, settings)
        except (PresetFormatError, ValueError, RuntimeError) as exc:
            raise RenderError(f"dexed could not render {preset.name!r}: {exc}") from exc
        return np.asarray(audio, dtype=np.float32)

    @staticmethod
    def _play(engine: Any, settings: RenderSettings) -> Any:
        """One note on an engine holding a voice, as ``settings`` say."""
        return engine.render(midi_note=int(settings.note), velocity=int(settings.velocity),
                             note_duration=float(settings.note_seconds),
                             render_duration=float(settings.total_seconds))

    def render_vectors(self, native: np.ndarray, settings: RenderSettings) -> Iterator[np.ndarray | RenderError]:
        """Render rows of native values straight from VCED bytes built for all rows at once (no presets)."""
        rows = np.asarray(native, dtype=np.float64)
        vced = vectors_to_vced(rows)
        unusable = self.non_finite_rows(rows)
        engine = self._engine(int(settings.sample_rate))
        load = _voice_loader(engine)
        for i, voice in enumerate(vced):
            if i in unusable:
                yield unusable[i]
                continue
            try:
                load(voice.tobytes() + _ROW_NAME + b"\x3f")
                audio = self._play(engine, settings)
            except (ValueError, RuntimeError) as exc:
                yield RenderError(f"dexed could not render row {i}: {exc}")
                continue
            yield np.asarray(audio, dtype=np.float32)
