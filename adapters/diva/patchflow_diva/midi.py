"""MIDI mapping for Diva: which controller (CC) numbers drive which parameters and modulation sources.

Diva's ``ModWhl``, ``CtrlA`` and ``CtrlB`` modulation sources listen to MIDI controllers, and any parameter can be
bound to a controller by MIDI learn. The built-in table follows the General MIDI sound-controller conventions
(CC 74 brightness -> cutoff, CC 71 -> resonance, CC 73/75/72 -> attack/decay/release...). A user overrides it with
a TOML file, ``$PATCHFLOW_DIVA_MIDI`` or ``~/.config/patchflow/diva-midi.toml``::

    [sources]
    CtrlA = 2
    CtrlB = 11

    [parameters]
    "VCF1: Frequency" = 74
    "OSC: Vibrato" = 1

Entries of the file replace the built-in ones; a parameter mapped to ``-1`` is unmapped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from patchflow import ParameterTable
from patchflow_vst3 import ConfigError, config_dir, read_toml

from .parameters import diva_parameter_table

ENV_MIDI_FILE = "PATCHFLOW_DIVA_MIDI"

#: Modulation sources driven by a controller, with their built-in CC numbers.
DEFAULT_SOURCES: dict[str, int] = {"ModWhl": 1, "CtrlA": 2, "CtrlB": 11}

#: Built-in MIDI-learn table: parameter name -> CC number.
DEFAULT_PARAMETER_CCS: dict[str, int] = {
    "VCC: Glide": 5,
    "main: Output": 7,
    "VCA1: Pan": 10,
    "VCF1: Resonance": 71,
    "ENV1: Release": 72,
    "ENV1: Attack": 73,
    "VCF1: Frequency": 74,
    "ENV1: Decay": 75,
    "LFO1: Rate": 76,
    "OSC: Vibrato": 77,
    "LFO1: Delay": 78,
}


@dataclass
class MidiMapping:
    """Controller numbers of the modulation sources and of MIDI-learned parameters.

    Attributes:
        sources: ``ModWhl`` / ``CtrlA`` / ``CtrlB`` -> CC number.
        parameters: Plugin parameter name -> CC number.
        origin: The file the mapping was read from, if any.
    """

    sources: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SOURCES))
    parameters: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PARAMETER_CCS))
    origin: str | None = None

    def cc_for(self, name: str) -> int | None:
        """The CC number of a parameter or modulation source, or ``None`` when it has none."""
        return self.sources.get(name, self.parameters.get(name))

    def parameter_for(self, cc: int) -> str | None:
        """The parameter a CC number drives, or ``None``."""
        return next((name for name, number in self.parameters.items() if number == cc), None)

    def apply(self, table: ParameterTable) -> ParameterTable:
        """``table`` with each spec's ``midi_cc`` set from this mapping."""
        return ParameterTable(spec.model_copy(update={"midi_cc": self.parameters.get(spec.name)}) for spec in table)


def _cc(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= 127:
        raise ConfigError(f"{where}: a CC number must be an integer 0-127 (or -1 to unmap), got {value!r}")
    return value


def load_midi_mapping(path: str | Path | None = None) -> MidiMapping:
    """The built-in mapping with the overrides of ``path`` (default: ``$PATCHFLOW_DIVA_MIDI`` or
    ``~/.config/patchflow/diva-midi.toml``; a missing default file means no overrides).

    Raises:
        ConfigError: The file is missing (when given explicitly), unreadable, or names an unknown parameter,
            source or CC number.
    """
    explicit = path is not None or ENV_MIDI_FILE in os.environ
    file = Path(path if path is not None else os.environ.get(ENV_MIDI_FILE, config_dir() / "diva-midi.toml"))
    file = file.expanduser()
    if explicit and not file.is_file():
        raise ConfigError(f"{file}: MIDI mapping file not found")
    data = read_toml(file)
    mapping = MidiMapping(origin=str(file) if data else None)
    unknown_sections = set(data) - {"sources", "parameters"}
    if unknown_sections:
        raise ConfigError(f"{file}: unknown sections {sorted(unknown_sections)}; use [sources] and [parameters]")
    for source, value in data.get("sources", {}).items():
        if source not in DEFAULT_SOURCES:
            raise ConfigError(f"{file}: unknown source {source!r}; controller sources are "
                              f"{', '.join(DEFAULT_SOURCES)}")
        mapping.sources[source] = _cc(value, f"{file}: [sources] {source}")
    table = diva_parameter_table()
    for name, value in data.get("parameters", {}).items():
        if name not in table:
            table.index(name)  # raises UnknownParameterError with close matches
        number = _cc(value, f"{file}: [parameters] {name!r}")
        if number < 0:
            mapping.parameters.pop(name, None)
        else:
            mapping.parameters[name] = number
    return mapping
