"""patchflow adapter for FM2 (two-operator FM): parameter specs, a renderer and a preset format."""

from .synth import SYNTH_ID, Fm2Synth

__all__ = ["SYNTH_ID", "Fm2Synth"]
