"""Running a trained model: features with the run's normalisation, batched predictions, latent codes, latent
samples and samples of generative models."""

from __future__ import annotations

import numpy as np
import torch

from ..data.features import log_mel
from ..model import SynthModel
from ..plugins import get_synth
from ..presets import Preset
from .run import Run


def normalised_mel(run: Run, raw_log_mel: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Raw log-mel (dB) normalised with the run's training statistics, as the model expects."""
    mel = torch.as_tensor(np.asarray(raw_log_mel, dtype=np.float32))
    return (mel - float(run.mel_mean)) / float(run.mel_std)


def audio_features(run: Run, audio: np.ndarray) -> torch.Tensor:
    """Normalised log-mel ``(B, n_mels, frames)`` of audio ``(B, samples)`` with the run's feature recipe."""
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


@torch.no_grad()
def model_samples(model: SynthModel, mel: torch.Tensor, count: int, generator: torch.Generator | None = None,
                  batch_size: int = 64) -> np.ndarray:
    """Parameters ``(B, count, P)`` drawn from the model's ``p(v | x)`` (:meth:`patchflow.model.SynthModel.
    sample_params`), in evaluation mode, ``batch_size`` mels at a time.

    Models that cannot sample (``model.can_sample`` false) return an empty ``(B, 0, P)`` array.
    """
    if count <= 0 or not model.can_sample:
        return np.zeros((len(mel), 0, model.n_params))
    model.eval()
    device = _device(model)
    out = [model.sample_params(mel[i:i + batch_size].to(device), count, generator).cpu()
           for i in range(0, len(mel), batch_size)]
    return torch.cat(out).double().clamp(0, 1).numpy() if out else np.zeros((0, count, model.n_params))


#: How :func:`latent_of_preset` found a code when the model maps parameters back to its latent space.
INVERSE_FLOW = "inverse flow"
#: ... when the model has no such map: the preset was rendered and its log-mel encoded.
ENCODER = "encoder (rendered preset)"
#: ... when the map gave a code that is not finite or does not decode back to the preset.
BROKEN_INVERSE = "encoder (rendered preset; the inverse flow does not give the preset back)"


def latent_of_preset(run: Run, preset: Preset, *, use_inverse: bool = True) -> tuple[torch.Tensor, str]:
    """The latent code of a preset. Returns ``(z (1, D), how)``.

    Through the inverse regression flow when the model has one (``how`` :data:`INVERSE_FLOW`), provided the code is
    finite and decodes (invertible map only) back to the preset's native values. A strongly contracting regression
    flow has no usable inverse in float32: trained runs of the ``cpu`` recipe gave codes of norm 1e13-1e22 that
    decode to one corner of the parameter cube. Then, or when the model has no inverse, or with
    ``use_inverse=False``, the preset is rendered and its log-mel encoded (``how`` :data:`BROKEN_INVERSE` or
    :data:`ENCODER`); such codes decode through the model's full head (``classify=True``).
    """
    model = run.model
    table = run.parameters
    v = torch.as_tensor(table.to_normalised(preset.vector(table))[None], dtype=torch.float32)
    device = _device(model)
    how = ENCODER
    if use_inverse:
        try:
            with torch.no_grad():
                z = model.latent_from_params(v.to(device)).cpu()
        except NotImplementedError:
            pass
        else:
            if bool(torch.isfinite(z).all()) and np.array_equal(
                    table.to_native(params_from_latent(run, z, classify=False)), table.to_native(v.double().numpy())):
                return z, INVERSE_FLOW
            how = BROKEN_INVERSE
    synth = get_synth(run.synth_id)
    try:
        audio = synth.render(preset, run.render_settings)
    finally:
        synth.close()
    with torch.no_grad():
        return model.encode(audio_features(run, audio[None]).to(device)).cpu(), how


def params_from_latent(run: Run, z: torch.Tensor, *, classify: bool = True) -> np.ndarray:
    """Normalised parameters ``(N, P)`` for latent codes, in evaluation mode.

    ``classify=False`` decodes through the invertible map only (see :meth:`patchflow.model.SynthModel.
    params_from_latent`): use it for codes that came from :func:`latent_of_preset` so that a preset's own code
    decodes back to the preset.
    """
    model = run.model
    model.eval()
    with torch.no_grad():
        params = model.params_from_latent(z.to(_device(model), torch.float32), classify=classify)
        return params.cpu().double().clamp(0, 1).numpy()
