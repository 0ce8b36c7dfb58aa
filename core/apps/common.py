"""Helpers shared by the applications: finding presets, checking runs, writing preset files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import PatchflowError
from ..presets import Preset
from ..runtime.run import Run


class ApplicationError(PatchflowError):
    """A run, preset or option that an application cannot work with."""


def require_latent(run: Run, command: str) -> None:
    """Raise :class:`ApplicationError` unless the run's model has a latent space."""
    if not run.model.has_latent:
        raise ApplicationError(f"`{command}` needs a model with a latent space; {run.run_dir} holds "
                               f"{type(run.model).__name__}, which maps audio straight to parameters")


def split_reference(reference: str | Path, index: int | None = None) -> tuple[Path, int]:
    """``FILE`` or ``FILE#INDEX`` to ``(file, index)``; an explicit ``index`` wins."""
    text = str(reference)
    path, _, position = text.rpartition("#") if "#" in text and text.rsplit("#", 1)[1].isdigit() else (text, "", "")
    return Path(path), index if index is not None else int(position or 0)


def load_preset(reference: str | Path, synth_id: str, index: int | None = None) -> Preset:
    """One preset of a preset file (``FILE`` or ``FILE#INDEX``; banks hold several).

    Raises:
        ApplicationError: The file holds no readable preset at that index, or presets of another synth.
    """
    from ..plugins import parse_preset_file

    path, position = split_reference(reference, index)
    result = parse_preset_file(path, synth_id)
    for k, preset in enumerate(result.presets):
        where = preset.source.index if preset.source and preset.source.index is not None else k
        if where == position:
            if preset.synth != synth_id:
                raise ApplicationError(f"{path}: a {preset.synth} preset, but the run learned {synth_id}")
            return preset
    readable = [p.source.index if p.source and p.source.index is not None else k
                for k, p in enumerate(result.presets)]
    raise ApplicationError(f"{path}: no readable preset at index {position} (readable: {readable or 'none'})")


def write_preset_files(presets: Sequence[Preset], out_dir: Path, stem: str, per_file: int = 32) -> list[Path]:
    """Write presets in their synth's native format, ``per_file`` to a file (a DX7 bank holds 32)."""
    from ..plugins import find_writer, write_presets

    if not presets:
        return []
    suffix = find_writer(presets[0].synth).suffixes[0]
    chunks = [presets[i:i + per_file] for i in range(0, len(presets), per_file)]
    if len(chunks) == 1:
        return [write_presets(chunks[0], out_dir / f"{stem}{suffix}")]
    return [write_presets(chunk, out_dir / f"{stem}-{k + 1}{suffix}") for k, chunk in enumerate(chunks)]


def join_clips(clips: np.ndarray, sample_rate: int, gap_seconds: float = 0.25) -> np.ndarray:
    """Clips ``(N, samples)`` one after another with short silences, for listening to a path at once."""
    gap = np.zeros(int(gap_seconds * sample_rate), dtype=np.float32)
    parts: list[np.ndarray] = []
    for clip in clips:
        parts += [np.asarray(clip, dtype=np.float32), gap]
    return np.concatenate(parts[:-1]) if parts else np.zeros(0, dtype=np.float32)
