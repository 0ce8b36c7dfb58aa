"""Hook implementations that register FM2 (two-operator FM) with patchflow (the ``fm2`` entry point).

Imports happen inside the hooks so that loading the plugin stays cheap.
"""

from __future__ import annotations

from patchflow import hookimpl


@hookimpl
def register_synths(register):
    """Contribute the synth."""
    from .synth import Fm2Synth

    register(Fm2Synth)


@hookimpl
def register_preset_parsers(register):
    """Contribute the preset-file reader."""
    from .formats import JsonPresetParser

    register(JsonPresetParser())


@hookimpl
def register_preset_writers(register):
    """Contribute the preset-file writer."""
    from .formats import JsonPresetWriter

    register(JsonPresetWriter())
