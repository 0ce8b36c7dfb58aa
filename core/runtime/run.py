"""A trained run, loaded: the model in evaluation mode and everything needed to use it.

:class:`Run` is the one type that evaluation and the applications are given wherever a trained model is meant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.features import FeatureSettings
from ..model import SynthModel
from ..models import build_model
from ..parameters import ParameterTable
from ..presets import Preset
from ..synth import RenderSettings
from ..training.config import TrainConfig
from ..training.errors import TrainingError
from ..training.state import load_checkpoint
from ..training.trainer import CONFIG_FILE, DATA_FILE
from .index import INDEX_FILE


@dataclass
class Run:
    """A trained model with the facts of its training data.

    Attributes:
        run_dir: The run directory.
        model: The model, in evaluation mode, on the requested device.
        config: The saved training config.
        checkpoint: Which checkpoint was loaded (``best`` or ``last``).
        checkpoint_info: Bookkeeping of that checkpoint (epoch, validation loss...).
        store_path: The training store (as given at training time; relative paths are resolved against the run
            directory, falling back to the absolute path recorded at training time when that exists).
        synth_id: Synth that rendered the training data.
        parameters: Specs of the learned parameters, in the model's output order.
        mel_mean: Mean of the raw log-mel used to normalise inputs.
        mel_std: Standard deviation of the raw log-mel used to normalise inputs.
        render_settings: How the training presets were rendered.
        feature_settings: How mels were computed.
        tag_pairs: Names of the tag pairs.
        base_preset: The training store's base preset (the values of every parameter the run does not learn), or
            ``None`` for runs trained before runs recorded it.
        reference_peak: The median peak amplitude of the training renders (the level a sound is scaled to before
            the model reads it), or ``None`` for runs trained before runs recorded it.
    """

    run_dir: Path
    model: SynthModel
    config: TrainConfig
    checkpoint: str
    checkpoint_info: dict[str, Any]
    store_path: Path
    synth_id: str
    parameters: ParameterTable
    mel_mean: float
    mel_std: float
    render_settings: RenderSettings
    feature_settings: FeatureSettings
    tag_pairs: list[str]
    base_preset: Preset | None = None
    reference_peak: float | None = None

    @property
    def name(self) -> str:
        """A short display name: the run directory's name."""
        return self.run_dir.name or str(self.run_dir)

    def normalise_mel(self, mel: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Raw log-mel (dB) to the model's normalised input."""
        return (mel - self.mel_mean) / self.mel_std

    @property
    def index_path(self) -> Path:
        """Where the run's retrieval index lives (:data:`patchflow.runtime.index.INDEX_FILE`; it may not exist)."""
        return self.run_dir / INDEX_FILE

    @property
    def missing_facts(self) -> list[str]:
        """The facts of its training data this run does not record (``base preset``, ``reference level``): an
        older run, which needs its store (or the synth's defaults) for them."""
        return [name for name, value in (("base preset", self.base_preset), ("reference level", self.reference_peak))
                if value is None]


def _store_path(run_dir: Path, data: dict[str, Any]) -> Path:
    given = Path(data["path"])
    if given.is_absolute():
        return given
    relative = run_dir / given
    recorded = Path(data.get("absolute_path", ""))
    if not relative.exists() and data.get("absolute_path") and recorded.exists():
        return recorded
    return relative


def load_run(run_dir: str | Path, device: str | torch.device = "cpu", checkpoint: str = "best") -> Run:
    """Load a trained model and its data facts from a run directory.

    Args:
        run_dir: Directory written by :func:`~patchflow.training.train`.
        device: Where to put the model.
        checkpoint: ``best`` (lowest validation loss) or ``last``.

    Raises:
        TrainingError: ``run_dir`` is not a run directory, its files are damaged or inconsistent (a config that
            does not validate, a checkpoint of another model), or the run is broken (NaN weights, a zero feature
            scale).
        CheckpointError: The checkpoint is missing, unreadable or not a patchflow checkpoint.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists() or not (run_dir / DATA_FILE).exists():
        raise TrainingError(f"{run_dir}: not a training run (no {CONFIG_FILE} / {DATA_FILE})")
    if checkpoint not in ("best", "last"):
        raise TrainingError(f"unknown checkpoint {checkpoint!r}; choose 'best' or 'last'")
    try:
        config = TrainConfig.load(run_dir / CONFIG_FILE)
    except Exception as exc:  # bad JSON, a field pydantic refuses, an unreadable file
        raise TrainingError(f"{run_dir / CONFIG_FILE}: not a valid run config ({_first_line(exc)})") from None
    try:
        data = json.loads((run_dir / DATA_FILE).read_text())
        facts = dict(
            store_path=_store_path(run_dir, data),
            synth_id=str(data["synth"]),
            parameters=ParameterTable.from_json(data["parameters"]),
            mel_mean=float(data["mel_mean"]),
            mel_std=float(data["mel_std"]),
            render_settings=RenderSettings(**data["render_settings"]),
            feature_settings=FeatureSettings.from_json(data["features"]),
            tag_pairs=list(data.get("tag_pairs", [])),
            base_preset=Preset.model_validate(data["base_preset"]) if data.get("base_preset") else None,
            reference_peak=_positive(data.get("reference_peak")),
        )
    except Exception as exc:  # missing keys, wrong types, bad JSON
        raise TrainingError(f"{run_dir / DATA_FILE}: not a valid description of the training data "
                            f"({type(exc).__name__}: {_first_line(exc)})") from None
    if not (np.isfinite(facts["mel_std"]) and facts["mel_std"] > 0 and np.isfinite(facts["mel_mean"])):
        raise TrainingError(f"{run_dir / DATA_FILE}: the run is broken: its input normalisation (mean "
                            f"{facts['mel_mean']}, std {facts['mel_std']}) cannot scale features")
    tensors, info = load_checkpoint(run_dir, checkpoint, map_location=device)
    model = build_model(config.model)
    try:
        model.load_state_dict(tensors["model"])
    except Exception as exc:  # wrong keys or shapes: a checkpoint of another model
        raise TrainingError(f"{run_dir}: the {checkpoint} checkpoint does not fit the model of config.json "
                            f"({_first_line(exc)})") from None
    if not all(bool(torch.isfinite(p).all()) for p in model.state_dict().values() if p.is_floating_point()):
        raise TrainingError(f"{run_dir}: the run is broken: the {checkpoint} checkpoint holds NaN or infinite "
                            f"weights; resume from an earlier checkpoint or train again")
    model.to(device).eval()
    return Run(run_dir=run_dir, model=model, config=config, checkpoint=checkpoint,
               checkpoint_info={k: v for k, v in info.items() if k != "rng"}, **facts)


def _positive(value: Any) -> float | None:
    """A recorded level: a positive finite number, or ``None`` when absent."""
    if value is None:
        return None
    level = float(value)
    if not (np.isfinite(level) and level > 0):
        raise ValueError(f"reference_peak {value!r} is not a positive number")
    return level


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
