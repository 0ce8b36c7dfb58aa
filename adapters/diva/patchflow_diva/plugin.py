"""Hook implementations registering Diva with patchflow (the ``diva`` entry point)."""

from __future__ import annotations

from patchflow import hookimpl


@hookimpl
def register_synths(register):
    """Register :class:`~patchflow_diva.synth.DivaSynth` (renders only where Diva is installed)."""
    from .synth import DivaSynth

    register(DivaSynth)


@hookimpl
def register_preset_parsers(register):
    """Register the ``.h2p`` reader."""
    from .formats import DivaH2pParser

    register(DivaH2pParser())


@hookimpl
def register_preset_writers(register):
    """Register the ``.h2p`` writer."""
    from .formats import DivaH2pWriter

    register(DivaH2pWriter())
