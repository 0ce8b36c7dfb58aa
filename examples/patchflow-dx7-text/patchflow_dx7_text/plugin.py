"""The hook implementation that adds the DX7 text reader to patchflow (the ``dx7_text`` entry point)."""

from __future__ import annotations

from patchflow import hookimpl


@hookimpl
def register_preset_parsers(register):
    """Contribute the DX7 text reader."""
    from .parser import Dx7TextParser

    register(Dx7TextParser())
