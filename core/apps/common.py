"""Helpers shared by the applications: finding presets, checking runs, rendering to files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import PatchflowError
from ..presets import Preset


class ApplicationError(PatchflowError):
    """A run, preset or option that an application cannot work with."""


def require_latent(run: Any, command: str) -> None:
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


#: How :func:`latent_of_preset` found a code when the model maps parameters back to its latent space.
INVERSE_FLOW = "inverse flow"


def latent_of_preset(run: Any, preset: Preset) -> tuple[torch.Tensor, str]:
    """The latent code of a preset: through the inverse regression flow when the model has one, else by
    rendering the preset and encoding its log-mel. Returns ``(z (1, D), how)``."""
    from ..evaluation.inference import audio_features
    from ..plugins import get_synth

    model = run.model
    v = torch.as_tensor(run.parameters.to_normalised(preset.vector(run.parameters))[None], dtype=torch.float32)
    device = next(model.parameters()).device
    with torch.no_grad():
        try:
            return model.latent_from_params(v.to(device)).cpu(), INVERSE_FLOW
        except NotImplementedError:
            synth = get_synth(run.synth_id)
            try:
                audio = synth.render(preset, run.render_settings)
            finally:
                synth.close()
            return model.encode(audio_features(run, audio[None]).to(device)).cpu(), "encoder (rendered preset)"


def params_from_latent(run: Any, z: torch.Tensor, *, classify: bool = True) -> np.ndarray:
    """Normalised parameters ``(N, P)`` for latent codes, in evaluation mode.

    ``classify=False`` decodes through the invertible map only (see :meth:`patchflow.model.SynthModel.
    params_from_latent`): use it for codes that came from :func:`latent_of_preset` so that a preset's own code
    decodes back to the preset.
    """
    model = run.model
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        return model.params_from_latent(z.to(device, torch.float32), classify=classify).cpu().double().clamp(0, 1).numpy()


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
