"""Hook implementations registering Dexed with patchflow (the ``dexed`` entry point)."""

from __future__ import annotations

from patchflow import hookimpl


@hookimpl
def register_synths(register):
    from .synth import DexedSynth

    register(DexedSynth)


@hookimpl
def register_preset_parsers(register):
    from .formats import Dx7SysexParser

    register(Dx7SysexParser())


@hookimpl
def register_preset_writers(register):
    from .formats import Dx7SysexWriter

    register(Dx7SysexWriter())
