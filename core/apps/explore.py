"""Audio-based preset exploration: neighbours of a preset in the latent space, and paths between presets.

A preset is encoded through the inverse regression flow (``z = f^-1(v)``; models without one encode the
preset's rendering), its latent neighbourhood is sampled, and the neighbours are mapped back through ``p(v|z)``.
The paper's claim is that such neighbours *sound* alike while their parameters differ. To test it, every latent
neighbour gets a control: the original parameters moved by the same parameter distance in a random direction.
Audio distances (spectral convergence to the original's rendering) of both sets are reported side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.features import magnitude_mel
from ..data.render import SynthPool
from ..presets import Preset
from ..runtime.distances import spectral_convergence
from ..runtime.inference import INVERSE_FLOW, latent_of_preset, params_from_latent
from ..runtime.rendering import presets_from_normalised
from ..runtime.run import Run
from .common import ApplicationError, join_clips, require_latent, write_preset_files


def _rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean((np.atleast_2d(a) - np.atleast_2d(b)) ** 2, axis=1))


@dataclass
class Exploration:
    """Neighbours of one preset.

    Attributes:
        origin: The explored preset.
        encoded_by: How its latent code was obtained.
        params: Normalised parameters of the original ``(P,)`` and of the latent neighbours ``(N, P)``.
        param_distance: RMS distance of each neighbour's normalised parameters to the original's.
        audio_distance: SC of each neighbour's rendering to the original's rendering.
        control_audio_distance: SC of the random-direction controls (same parameter distances).
        audio: Renderings of the original (row 0) and the neighbours.
        duplicates_dropped: Samples left out because they decode to the same native values as an earlier one
            (or as the original preset): the neighbours are all distinct presets.
    """

    origin: Preset
    encoded_by: str
    original_params: np.ndarray
    params: np.ndarray
    param_distance: np.ndarray
    audio_distance: np.ndarray
    control_audio_distance: np.ndarray
    audio: np.ndarray = field(repr=False)
    duplicates_dropped: int = 0


def explore(run: Run, preset: Preset, *, radius: float = 0.5, count: int = 16, seed: int = 0,
            workers: int | None = None) -> Exploration:
    """Sample ``count`` latent neighbours of ``preset`` at Gaussian radius ``radius`` (std in latent units).

    Raises:
        ApplicationError: The model has no latent space, or the options are out of range.
    """
    require_latent(run, "explore")
    if count < 1 or radius <= 0:
        raise ApplicationError("explore needs --count >= 1 and --radius > 0")
    table = run.parameters
    v0 = table.to_normalised(preset.vector(table))
    z0, how = latent_of_preset(run, preset)  # falls back to encoding the sound when the inverse flow fails
    generator = torch.Generator().manual_seed(seed)
    z = z0 + radius * torch.randn((count, z0.shape[1]), generator=generator)
    params = params_from_latent(run, z, classify=how != INVERSE_FLOW)
    params, dropped = _distinct(table, params, v0)
    count = len(params)
    if count == 0:
        raise ApplicationError(f"every latent sample around {preset.name!r} decodes to the preset itself; try a "
                               f"larger --radius")
    distance = _rms(params, v0[None])
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=params.shape)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    controls = np.clip(v0[None] + directions * (distance * np.sqrt(len(v0)))[:, None], 0, 1)
    names = [f"{preset.name[:7]} {k + 1}" for k in range(count)]
    with SynthPool(run.synth_id, workers) as synths:
        audio = synths.render([preset] + presets_from_normalised(preset, table, params, names=names),
                              run.render_settings)
        control_audio = synths.render(presets_from_normalised(preset, table, controls), run.render_settings)
    spec = run.feature_settings
    original = magnitude_mel(audio[:1], spec)
    sc = spectral_convergence(np.broadcast_to(original, (count,) + original.shape[1:]),
                              magnitude_mel(audio[1:], spec))
    control_sc = spectral_convergence(np.broadcast_to(original, (count,) + original.shape[1:]),
                                      magnitude_mel(control_audio, spec))
    return Exploration(preset, how, v0, params, distance, sc, control_sc, audio, duplicates_dropped=dropped)


def _distinct(table: Any, params: np.ndarray, original: np.ndarray) -> tuple[np.ndarray, int]:
    """The rows of ``params`` whose native values differ from the original's and from every earlier row's."""
    seen = {table.to_native(original[None])[0].tobytes()}
    keep = []
    for i, row in enumerate(table.to_native(params)):
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return params[keep], len(params) - len(keep)


def write_exploration(result: Exploration, run: Run, out_dir: str | Path) -> dict[str, Any]:
    """Write the neighbours as native presets (``neighbours.syx`` for Dexed), their audio, a figure and
    ``explore.json``."""
    import json

    from ..audio import headroom_gain, write_wav

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = run.parameters
    names = [f"{result.origin.name[:7]} {k + 1}" for k in range(len(result.params))]
    presets = presets_from_normalised(result.origin, table, result.params, names=names)
    files = write_preset_files(presets, out, "neighbours")
    rate = run.render_settings.sample_rate
    gain = headroom_gain(result.audio)  # one gain for the preset and its neighbours keeps them comparable
    write_wav(out / "original.wav", result.audio[0] * gain, rate)
    for k, clip in enumerate(result.audio[1:], start=1):
        write_wav(out / f"neighbour-{k:02d}.wav", clip * gain, rate)
    _scatter(result, out / "explore.png")
    summary = {
        "preset": result.origin.name, "source": str(result.origin.source) if result.origin.source else None,
        "encoded_by": result.encoded_by, "duplicates_dropped": int(result.duplicates_dropped),
        "mean_param_distance": float(result.param_distance.mean()),
        "mean_audio_distance": float(result.audio_distance.mean()),
        "mean_control_audio_distance": float(result.control_audio_distance.mean()),
        "neighbours": [{"index": k + 1, "name": names[k], "param_distance": float(result.param_distance[k]),
                        "audio_distance": float(result.audio_distance[k]),
                        "control_audio_distance": float(result.control_audio_distance[k]),
                        "audio": f"neighbour-{k + 1:02d}.wav"} for k in range(len(names))],
        "files": [str(f) for f in files],
        "distances": {"param": "RMS of normalised parameters", "audio": "SC of magnitude mel spectrograms "
                      "to the original's rendering", "control": "same parameter distance, random direction"},
    }
    (out / "explore.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


def _scatter(result: Exploration, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.scatter(result.param_distance, result.audio_distance, label="latent neighbours")
    ax.scatter(result.param_distance, result.control_audio_distance, marker="x",
               label="random direction, same distance")
    ax.set(xlabel="parameter distance (RMS, normalised)", ylabel="audio distance (SC)",
           title=f"around {result.origin.name}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


@dataclass
class Interpolation:
    """A path between two presets, through the latent space and, for comparison, straight in parameter space.

    Attributes:
        latent_params: Normalised parameters along the latent path ``(steps, P)``.
        linear_params: Along the straight parameter path ``(steps, P)``.
        latent_audio / linear_audio: Their renderings.
        latent_steps / linear_steps: SC between consecutive renderings (how smoothly the sound changes).
    """

    a: Preset
    b: Preset
    latent_params: np.ndarray
    linear_params: np.ndarray
    latent_audio: np.ndarray = field(repr=False)
    linear_audio: np.ndarray = field(repr=False)
    latent_steps: np.ndarray
    linear_steps: np.ndarray


def interpolate(run: Run, a: Preset, b: Preset, *, steps: int = 8, workers: int | None = None) -> Interpolation:
    """Interpolate linearly between the latent codes of ``a`` and ``b`` (non-learned parameters from ``a``).

    Raises:
        ApplicationError: The model has no latent space, or ``steps < 2``.
    """
    require_latent(run, "interpolate")
    if steps < 2:
        raise ApplicationError("interpolate needs --steps >= 2")
    table = run.parameters
    za, how = latent_of_preset(run, a)
    zb, how_b = latent_of_preset(run, b)
    if how != how_b:  # one code from the inverse flow and one from the encoder: take both from the encoder
        (za, how), (zb, _) = latent_of_preset(run, a, use_inverse=False), latent_of_preset(run, b, use_inverse=False)
    t = torch.linspace(0, 1, steps)[:, None]
    latent_params = params_from_latent(run, (1 - t) * za + t * zb, classify=how != INVERSE_FLOW)
    va, vb = table.to_normalised(a.vector(table)), table.to_normalised(b.vector(table))
    ts = np.linspace(0, 1, steps)[:, None]
    linear_params = (1 - ts) * va[None] + ts * vb[None]
    names = [f"PATH {k + 1}" for k in range(steps)]
    with SynthPool(run.synth_id, workers) as synths:
        latent_audio = synths.render(presets_from_normalised(a, table, latent_params, names=names), run.render_settings)
        linear_audio = synths.render(presets_from_normalised(a, table, linear_params, names=names), run.render_settings)
    spec = run.feature_settings

    def step_sc(audio: np.ndarray) -> np.ndarray:
        mel = magnitude_mel(audio, spec)
        return spectral_convergence(mel[:-1], mel[1:])

    return Interpolation(a, b, latent_params, linear_params, latent_audio, linear_audio, step_sc(latent_audio),
                         step_sc(linear_audio))


def write_interpolation(result: Interpolation, run: Run, out_dir: str | Path) -> dict[str, Any]:
    """Write the latent path as native presets (``path.syx``), both paths as WAVs, and ``interpolate.json``."""
    import json

    from ..audio import write_wav

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = run.parameters
    presets = presets_from_normalised(result.a, table, result.latent_params,
                                      names=[f"PATH {k + 1}" for k in range(len(result.latent_params))])
    files = write_preset_files(presets, out, "path")
    rate = run.render_settings.sample_rate
    write_wav(out / "latent-path.wav", join_clips(result.latent_audio, rate), rate, normalise=True)
    write_wav(out / "linear-path.wav", join_clips(result.linear_audio, rate), rate, normalise=True)
    summary = {
        "a": result.a.name, "b": result.b.name, "steps": len(result.latent_params),
        "latent_step_sc": result.latent_steps.tolist(), "linear_step_sc": result.linear_steps.tolist(),
        "latent_max_step_sc": float(result.latent_steps.max()), "linear_max_step_sc": float(result.linear_steps.max()),
        "latent_params": {n: result.latent_params[:, i].tolist() for i, n in enumerate(table.names)},
        "files": [str(f) for f in files] + ["latent-path.wav", "linear-path.wav"],
    }
    (out / "interpolate.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary
