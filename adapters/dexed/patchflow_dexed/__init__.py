"""patchflow adapter for Dexed (Yamaha DX7): parameters, sysex presets and rendering through ``dexed-py``."""

from .formats import Dx7SysexParser, Dx7SysexWriter
from .parameters import DX7_PARAMETERS
from .synth import SYNTH_ID, DexedSynth

__all__ = ["DX7_PARAMETERS", "SYNTH_ID", "DexedSynth", "Dx7SysexParser", "Dx7SysexWriter"]
