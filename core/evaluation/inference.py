"""Running a trained model on audio: features with the run's normalisation, batched predictions, latent samples."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from ..model import SynthModel
from ..parameters import ParameterTable
from ..synth import RenderSettings


class RunLike(Protocol):
    """What evaluation and the applications need from a trained run (see :func:`patchflow.training.load_run`)."""

    model: SynthModel
    parameters: ParameterTable
    synth_id: str
    mel_mean: float
    mel_std: float
    render_settings: RenderSettings
    feature_settings: Any


def run_name(run: Any) -> str:
    """A short display name for a run: its folder name, else its model name."""
    for attr in ("run_dir", "path", "directory"):
        value = getattr(run, attr, None)
        if value:
            return str(getattr(value, "name", value))
    config = getattr(run, "config", None)
    return str(getattr(config, "model", None) or type(run.model).__name__)


def normalised_mel(run: RunLike, raw_log_mel: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw log-mel (dB) normalised with the run's training statistics, as the model expects."""
    mel = torch.as_tensor(np.asarray(raw_log_mel, dtype=np.float32))
    return (mel - float(run.mel_mean)) / float(run.mel_std)


def audio_features(run: RunLike, audio: np.ndarray) -> torch.Tensor:
    """Normalised log-mel ``(B, n_mels, frames)`` of audio ``(B, samples)`` with the run's feature recipe."""
    from ..data.features import log_mel

    return normalised_mel(run, log_mel(np.atleast_2d(audio), run.feature_settings))


def _device(model: SynthModel) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def predict_params(model: SynthModel, mel: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """The model's parameters ``(B, P)`` in ``[0, 1]`` for normalised mels, computed in evaluation mode."""
    model.eval()
    device = _device(model)
    out = [model.predict_params(mel[i:i + batch_size].to(device)).cpu() for i in range(0, len(mel), batch_size)]
    return torch.cat(out).double().clamp(0, 1).numpy() if out else np.zeros((0, model.n_params))


@torch.no_grad()
def latent_samples(model: SynthModel, mel: torch.Tensor, count: int, sigma: float,
                   generator: torch.Generator | None = None) -> np.ndarray:
    """Parameters ``(B, count, P)`` decoded from Gaussian samples of std ``sigma`` around each mel's latent code.

    Models without a latent space return an empty ``(B, 0, P)`` array.
    """
    if count <= 0 or not model.has_latent:
        return np.zeros((len(mel), 0, model.n_params))
    model.eval()
    device = _device(model)
    z = model.encode(mel.to(device)).cpu()
    noise = torch.randn((z.shape[0], count, z.shape[1]), generator=generator, dtype=z.dtype)
    samples = (z[:, None, :] + sigma * noise).reshape(-1, z.shape[1])
    params = model.params_from_latent(samples.to(device)).cpu().double().clamp(0, 1)
    return params.reshape(z.shape[0], count, -1).numpy()
