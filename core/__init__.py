"""patchflow: learn how a synthesizer maps its knobs to its sound.

The public API re-exported here is light (no torch import). Models, flows and datasets live in sub-packages.
"""

from .errors import (
    PatchflowError,
    PluginError,
    PresetFormatError,
    RenderError,
    UnknownParameterError,
    UnknownSynthError,
)
from .hookspecs import hookimpl
from .parameters import ParameterKind, ParameterSpec, ParameterTable
from .preset_files import parse_preset_file, write_presets
from .presets import ParseProblem, ParseResult, Preset, PresetSource
from .registries import get_synth
from .synth import RenderSettings, Synth

__version__ = "0.1.0"

__all__ = [
    "ParameterKind",
    "ParameterSpec",
    "ParameterTable",
    "ParseProblem",
    "ParseResult",
    "PatchflowError",
    "PluginError",
    "Preset",
    "PresetFormatError",
    "PresetSource",
    "RenderError",
    "RenderSettings",
    "Synth",
    "UnknownParameterError",
    "UnknownSynthError",
    "__version__",
    "get_synth",
    "hookimpl",
    "parse_preset_file",
    "write_presets",
]
