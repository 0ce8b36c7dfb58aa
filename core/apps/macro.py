"""Macro-controls: what moving one latent dimension does to the parameters and to the sound.

Each chosen dimension is traversed from ``-span`` to ``+span`` with every other dimension at 0 and mapped through
``p(v|z)``; the parameter path is rendered by the synth. Dimensions are ranked by the *audio variance* they
produce: the variance across the path of each log-mel bin (dB), averaged over bins. For Flow_dis runs the tag-pair
dimensions of the disentangled space are traversed and labelled (``"Dark -> Bright"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.features import log_mel
from ..data.render import SynthPool
from ..plugins import get_synth
from ..presets import Preset
from ..runtime.inference import params_from_latent
from ..runtime.rendering import presets_from_normalised
from ..runtime.run import Run
from .common import ApplicationError, join_clips, require_latent


def audio_descriptors(audio: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """Per-clip descriptors of ``(N, samples)`` audio.

    Returns:
        ``loudness_db``: RMS level in dBFS over the whole clip; ``centroid_hz``: spectral centroid averaged over
        frames weighted by their energy; ``bandwidth_hz``: spectral bandwidth, weighted alike; ``flatness``:
        mean spectral flatness (0 tonal, 1 noise-like).
    """
    import librosa

    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2, axis=1))
    out = {"loudness_db": 20 * np.log10(np.maximum(rms, 1e-10)), "centroid_hz": [], "bandwidth_hz": [],
           "flatness": []}
    for clip in audio:
        spectrum = np.abs(librosa.stft(clip, n_fft=2048, hop_length=512))
        weights = spectrum.sum(axis=0)
        total = weights.sum()
        weights = weights / total if total > 0 else np.full_like(weights, 1 / max(len(weights), 1))
        centroid = librosa.feature.spectral_centroid(S=spectrum, sr=sample_rate)[0]
        bandwidth = librosa.feature.spectral_bandwidth(S=spectrum, sr=sample_rate)[0]
        out["centroid_hz"].append(float(np.sum(centroid * weights)))
        out["bandwidth_hz"].append(float(np.sum(bandwidth * weights)))
        out["flatness"].append(float(np.mean(librosa.feature.spectral_flatness(S=spectrum))))
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def tag_label(pair: str) -> str:
    """``"Bright/Dark"`` (positive/negative) as a traversal label from the negative to the positive side."""
    positive, _, negative = pair.partition("/")
    return f"{negative.strip() or '-'} -> {positive.strip() or '+'}"


@dataclass
class Traversal:
    """One traversed dimension.

    Attributes:
        dim: Latent (or disentangled) dimension index.
        label: ``z<dim>`` or the tag-pair label.
        values: Positions along the dimension ``(steps,)``.
        params: Normalised parameters along the path ``(steps, P)``.
        audio: Rendered audio ``(steps, samples)``.
        descriptors: Audio descriptors along the path.
        audio_variance: Mean over log-mel bins of their variance along the path (dB^2).
        moving: Parameters ordered by how far they move (range of the normalised value), with that range.
    """

    dim: int
    label: str
    values: np.ndarray
    params: np.ndarray
    audio: np.ndarray = field(repr=False)
    descriptors: dict[str, np.ndarray]
    audio_variance: float
    moving: list[tuple[str, float]]


def semantic_from_latent(model: Any, z: torch.Tensor) -> torch.Tensor:
    """Codes of the disentangled space (Flow_dis) for latent codes: dimension ``k`` follows tag pair ``k``."""
    return model.semantic_from_latent(z)


def latent_from_semantic(model: Any, s: torch.Tensor) -> torch.Tensor:
    """Latent codes for codes of the disentangled space (Flow_dis)."""
    if hasattr(model, "latent_from_semantic"):
        return model.latent_from_semantic(s)
    flow = model.disentangling_flow
    result = flow.inverse(s)
    return result[0] if isinstance(result, tuple) else result


def traverse(run: Run, dims: Sequence[int] | None = None, *, steps: int = 9, span: float = 2.5,
             semantic: bool | None = None, workers: int | None = None,
             base_preset: Preset | None = None) -> list[Traversal]:
    """Traverse latent dimensions and rank them by the audio variance they produce (largest first).

    Args:
        run: A trained run with a latent space.
        dims: Dimensions to traverse (default: all; for semantic traversals, all tag pairs).
        steps: Points along each dimension.
        span: The path goes from ``-span`` to ``+span`` (latent units; the prior is a standard normal).
        semantic: Traverse the disentangled tag-pair dimensions (default: when the model has them).
        workers: Render threads.
        base_preset: Preset supplying parameters the run does not learn (default: the synth's default preset).

    Raises:
        ApplicationError: The model has no latent space, or a dimension is out of range.
    """
    require_latent(run, "macro")
    model = run.model
    tag_pairs = list(run.tag_pairs)
    if semantic is None:
        semantic = bool(tag_pairs) and hasattr(model, "disentangling_flow")
    if semantic and not (tag_pairs and hasattr(model, "disentangling_flow")):
        raise ApplicationError(f"{run.run_dir}: semantic dimensions need a flow_dis run trained with tag pairs")
    limit = len(tag_pairs) if semantic else model.latent_dim
    dims = list(range(limit)) if dims is None or len(dims) == 0 else [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < limit]
    if bad:
        raise ApplicationError(f"dimension(s) {bad} out of range: the {'tag-pair' if semantic else 'latent'} "
                               f"space has {limit}")
    if steps < 2:
        raise ApplicationError("a traversal needs at least 2 steps")
    synth = get_synth(run.synth_id)
    base = base_preset or synth.default_preset()
    synth.close()
    values = np.linspace(-span, span, steps)
    out: list[Traversal] = []
    with SynthPool(run.synth_id, workers) as synths:
        for d in dims:
            codes = torch.zeros(steps, model.latent_dim)
            codes[:, d] = torch.as_tensor(values, dtype=torch.float32)
            if semantic:
                with torch.no_grad():
                    codes = latent_from_semantic(model, codes.to(next(model.parameters()).device)).cpu()
            params = params_from_latent(run, codes)
            audio = synths.render(presets_from_normalised(base, run.parameters, params,
                                                          names=[f"Z{d} {v:+.1f}" for v in values]),
                                  run.render_settings)
            mel = log_mel(audio, run.feature_settings).numpy()
            ranges = params.max(axis=0) - params.min(axis=0)
            order = np.argsort(-ranges, kind="stable")
            out.append(Traversal(
                dim=d, label=tag_label(tag_pairs[d]) if semantic else f"z{d}", values=values, params=params,
                audio=audio, descriptors=audio_descriptors(audio, run.render_settings.sample_rate),
                audio_variance=float(np.mean(np.var(mel, axis=0))),
                moving=[(run.parameters.names[i], float(ranges[i])) for i in order]))
    return sorted(out, key=lambda t: -t.audio_variance)


def write_macros(traversals: Sequence[Traversal], run: Run, out_dir: str | Path, *, top: int = 6) -> dict[str, Any]:
    """Write ``macro.json``, one figure and one WAV (the path played step by step) per dimension.

    Returns:
        The JSON summary (also written to ``macro.json``).
    """
    import json

    from ..audio import write_wav

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rate = run.render_settings.sample_rate
    names = run.parameters.names
    summary: dict[str, Any] = {"ranking": [], "dimensions": {}}
    for rank, t in enumerate(traversals, start=1):
        stem = f"dim-{t.dim:02d}"
        _figure(t, names, out / f"{stem}.png", top)
        write_wav(out / f"{stem}.wav", join_clips(t.audio, rate), rate, normalise=True)
        summary["ranking"].append({"rank": rank, "dim": t.dim, "label": t.label, "audio_variance": t.audio_variance})
        summary["dimensions"][t.label] = {
            "dim": t.dim, "values": t.values.tolist(), "audio_variance": t.audio_variance,
            "moving_parameters": [{"name": n, "range": r} for n, r in t.moving[:top]],
            "parameters": {n: t.params[:, i].tolist() for i, n in enumerate(names)},
            "descriptors": {k: v.tolist() for k, v in t.descriptors.items()},
            "figure": f"{stem}.png", "audio": f"{stem}.wav"}
    (out / "macro.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def _figure(traversal: Traversal, names: Sequence[str], path: Path, top: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for name, _ in traversal.moving[:top]:
        axes[0].plot(traversal.values, traversal.params[:, list(names).index(name)], label=name)
    axes[0].set(title=f"{traversal.label}: most-moving parameters", xlabel="latent value",
                ylabel="normalised value")
    axes[0].legend(fontsize=6)
    axes[1].plot(traversal.values, traversal.descriptors["loudness_db"], marker="o")
    axes[1].set(title="loudness", xlabel="latent value", ylabel="RMS dBFS")
    axes[2].plot(traversal.values, traversal.descriptors["centroid_hz"], marker="o")
    axes[2].set(title="spectral centroid", xlabel="latent value", ylabel="Hz")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
