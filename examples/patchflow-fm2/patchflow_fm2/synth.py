"""The FM2 synthesizer: one sine modulator driving one sine carrier (two-operator FM).

A note is ``level * env(t) * sin(2 pi f t + I(t) sin(2 pi r f t))`` where ``f`` is the note's frequency shifted by
``octave``, ``r`` is ``ratio`` and the modulation index ``I(t) = index * exp(-t / index_decay)`` fades, so the
sound starts bright and mellows, the way an electric piano or a bell does. ``env`` is a linear attack, a sustain
at full level while the key is held and an exponential release.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from patchflow import ParameterKind, ParameterSpec, Preset, RenderError, RenderSettings, Synth

SYNTH_ID = "fm2"

#: Every parameter of the synth, in a fixed order. Ranges are native units; patchflow maps them to [0, 1].
PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec(name="octave", kind=ParameterKind.CATEGORICAL, choices=("-1", "0", "+1"), default=1,
                  group="carrier", description="Octave shift of the whole note."),
    ParameterSpec(name="ratio", low=0.5, high=8.0, step=0.5, default=1.0, group="modulator",
                  description="Modulator frequency as a multiple of the carrier's: integers sound harmonic."),
    ParameterSpec(name="index", low=0.0, high=10.0, default=2.0, group="modulator",
                  description="Peak modulation index: how many sidebands, i.e. how bright the attack is."),
    ParameterSpec(name="index_decay", low=0.01, high=4.0, default=0.5, unit="s", group="modulator",
                  description="Time for the modulation index to fall to 1/e of its peak."),
    ParameterSpec(name="attack", low=0.001, high=1.0, default=0.005, unit="s", group="envelope",
                  description="Time to reach full level after the key is pressed."),
    ParameterSpec(name="release", low=0.01, high=2.0, default=0.4, unit="s", group="envelope",
                  description="Time for the level to fall by 60 dB after the key is released."),
    ParameterSpec(name="level", low=0.0, high=1.0, default=0.8, group="output",
                  description="Output level (peak of the sustained note)."),
)


class Fm2Synth(Synth):
    """FM2: a two-operator FM synth with seven parameters, rendered with numpy.

    Rendering is deterministic and never exceeds a peak of ``level`` (at most 1.0).
    """

    id = SYNTH_ID
    display_name = "FM2 (two-operator FM)"

    def parameter_specs(self) -> Sequence[ParameterSpec]:
        """Every parameter of the synth, in a fixed order."""
        return PARAMETERS

    def render(self, preset: Preset, settings: RenderSettings) -> np.ndarray:
        """Play one note as ``settings`` say and return mono float32 audio of ``settings.num_samples`` samples.

        Raises:
            RenderError: The preset is for another synth.
        """
        if preset.synth != self.id:
            raise RenderError(f"preset {preset.name!r} is for synth {preset.synth!r}, not {self.id!r}")
        table = self.parameters
        v = dict(zip(table.names, table.clamp(preset.vector(table)).tolist()))
        t = np.arange(settings.num_samples) / settings.sample_rate
        frequency = 440.0 * 2.0 ** ((settings.note - 69) / 12 + (v["octave"] - 1))
        index = v["index"] * np.exp(-t / v["index_decay"])
        modulator = index * np.sin(2 * np.pi * v["ratio"] * frequency * t)
        carrier = np.sin(2 * np.pi * frequency * t + modulator)
        envelope = self._envelope(t, settings.note_seconds, v["attack"], v["release"])
        return (v["level"] * settings.velocity / 127 * carrier * envelope).astype(np.float32)

    @staticmethod
    def _envelope(t: np.ndarray, note_seconds: float, attack: float, release: float) -> np.ndarray:
        """Linear attack, full level while the key is held, exponential release (-60 dB after ``release`` s)."""
        held = np.minimum(t / attack, 1.0)
        level_at_release = min(note_seconds / attack, 1.0)
        after = level_at_release * 10 ** (-3 * (t - note_seconds) / release)
        return np.where(t < note_seconds, held, after)
