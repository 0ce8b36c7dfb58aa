"""Loading a trained run: the model in evaluation mode and everything needed to use it."""

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
from ..synth import RenderSettings
from .config import TrainConfig
from .errors import TrainingError
from .state import load_checkpoint
from .trainer import CONFIG_FILE, DATA_FILE


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

    def normalise_mel(self, mel: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Raw log-mel (dB) to the model's normalised input."""
        return (mel - self.mel_mean) / self.mel_std


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
        TrainingError: ``run_dir`` is not a run directory, or the checkpoint is missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists() or not (run_dir / DATA_FILE).exists():
        raise TrainingError(f"{run_dir}: not a training run (no {CONFIG_FILE} / {DATA_FILE})")
    if checkpoint not in ("best", "last"):
        raise TrainingError(f"unknown checkpoint {checkpoint!r}; choose 'best' or 'last'")
    config = TrainConfig.load(run_dir / CONFIG_FILE)
    data = json.loads((run_dir / DATA_FILE).read_text())
    tensors, info = load_checkpoint(run_dir, checkpoint, map_location=device)
    model = build_model(config.model)
    model.load_state_dict(tensors["model"])
    model.to(device).eval()
    return Run(
        run_dir=run_dir,
        model=model,
        config=config,
        checkpoint=checkpoint,
        checkpoint_info={k: v for k, v in info.items() if k != "rng"},
        store_path=_store_path(run_dir, data),
        synth_id=data["synth"],
        parameters=ParameterTable.from_json(data["parameters"]),
        mel_mean=float(data["mel_mean"]),
        mel_std=float(data["mel_std"]),
        render_settings=RenderSettings(**data["render_settings"]),
        feature_settings=FeatureSettings.from_json(data["features"]),
        tag_pairs=list(data.get("tag_pairs", [])),
    )
