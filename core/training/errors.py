"""Errors the trainer raises on purpose."""

from __future__ import annotations

from pathlib import Path

from ..errors import PatchflowError


class TrainingError(PatchflowError):
    """A run cannot start or continue (existing run directory, mismatching resume, bad settings)."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; the run stopped and its last good checkpoint was kept."""


class TrainingInterrupted(TrainingError):
    """The run was interrupted (Ctrl-C / SIGTERM) and saved a resumable checkpoint.

    Attributes:
        run_dir: The run directory to resume.
    """

    def __init__(self, message: str, run_dir: Path) -> None:
        super().__init__(message)
        self.run_dir = Path(run_dir)
