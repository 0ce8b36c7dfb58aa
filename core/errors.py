"""The exceptions patchflow raises on purpose.

Every error a user can trigger with bad input derives from :class:`PatchflowError`, so a caller (or a
property-based test) can tell "patchflow refused this input" apart from a bug.
"""

from __future__ import annotations

from pathlib import Path


class PatchflowError(Exception):
    """Base class of every error patchflow raises deliberately."""


class PresetFormatError(PatchflowError):
    """A preset file (or bytes) cannot be read: wrong size, bad header, truncated, not this format.

    Attributes:
        path: The offending file, when there is one.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)


class UnknownSynthError(PatchflowError, LookupError):
    """A synth id was asked for that no installed adapter provides."""


class UnknownParameterError(PatchflowError, KeyError):
    """A parameter name is not part of a synth's parameter specs."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class PluginError(PatchflowError):
    """A plugin registered something invalid (duplicate id, wrong type, ...)."""


class RenderError(PatchflowError):
    """A synth could not render a preset."""
