"""u-he Diva rendered through pedalboard, on top of the generic VST3 adapter (``patchflow-vst3``).

Everything but rendering (the parameter table, ``.h2p`` presets, tags, MIDI mapping) works without the plugin.
To render, install Diva and tell patchflow where its VST3 is: ``PATCHFLOW_DIVA_PATH=/path/to/Diva.vst3``, or
``path`` under ``[diva]`` in ``~/.config/patchflow/vst3.toml``; otherwise the usual VST3 folders are searched.

Parameters are matched to the plugin by name (``"VCF1: Frequency"``) and set as normalised plugin values from the
table's native ranges, the convention of the Flow Synthesizer study. A loaded plugin that lacks some table
parameters (another build, or patchflow's test instrument) renders with the ones it has; the others are listed
in :attr:`DivaSynth.missing_parameters`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from patchflow import ParameterSpec, Preset
from patchflow_vst3 import Binding, InstrumentNotFoundError, Vst3Synth, on_host_thread, read_toml, vst3_config_file

from .midi import load_midi_mapping
from .parameters import diva_parameter_table

ENV_DIVA_PATH = "PATCHFLOW_DIVA_PATH"
#: Where Diva's VST3 usually lives when no path is configured.
STANDARD_LOCATIONS = (
    "~/.vst3/Diva.vst3",
    "/usr/lib/vst3/Diva.vst3",
    "/usr/local/lib/vst3/Diva.vst3",
    "/Library/Audio/Plug-Ins/VST3/Diva.vst3",
    "C:/Program Files/Common Files/VST3/Diva.vst3",
)


def diva_plugin_path() -> Path | None:
    """The configured or installed Diva VST3, or ``None`` when there is none."""
    configured = os.environ.get(ENV_DIVA_PATH) or read_toml(vst3_config_file()).get("diva", {}).get("path")
    if configured:
        return Path(configured).expanduser()
    return next((Path(p).expanduser() for p in STANDARD_LOCATIONS if Path(p).expanduser().exists()), None)


class DivaSynth(Vst3Synth):
    """u-he Diva (VST3) with patchflow's Diva parameter table."""

    id = "diva"
    display_name = "u-he Diva (VST3)"

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__(path if path is not None else diva_plugin_path())
        self.missing_parameters: list[str] = []

    @property
    def path(self) -> Path:
        """Diva's VST3 file.

        Raises:
            InstrumentNotFoundError: Diva is not installed or not configured.
        """
        if self._path is None:
            raise InstrumentNotFoundError(
                "u-he Diva is not installed (or not found): set PATCHFLOW_DIVA_PATH=/path/to/Diva.vst3, or a "
                f"'path' entry in the 'diva' table of {vst3_config_file()}. Reading .h2p presets, the parameter table and tags work "
                "without it; rendering needs it.")
        return self._path

    def parameter_specs(self) -> Sequence[ParameterSpec]:
        """Every Diva parameter (no plugin needed), with the MIDI mapping's CC numbers."""
        return list(load_midi_mapping().apply(diva_parameter_table()))

    def _bind(self) -> list[Binding]:
        by_name = {str(param.name): key for key, param in self.plugin.parameters.items()}
        bindings, missing = [], []
        for spec in self.parameters:
            key = by_name.get(spec.name)
            if key is None:
                missing.append(spec.name)
            else:
                bindings.append(Binding(key, spec))
        self.missing_parameters = missing
        return bindings

    def _write(self, binding: Binding, native: float) -> None:
        self.plugin.parameters[binding.key].raw_value = binding.spec.to_normalised(native)

    def apply(self, preset: Preset) -> None:
        """Set the plugin's parameters from the preset (defaults for the others).

        Raises:
            UnknownParameterError: The preset names a parameter that is not a Diva parameter.
        """
        for name in preset.values:
            self.parameters.index(name)
        on_host_thread(self._write_all, [(b, b.spec.clamp(preset.values.get(b.spec.name, b.spec.default)))
                                         for b in self.bindings()])
