"""The shared trainer: one loop for CPU and CUDA (and ``torchrun``), checkpoints, resume, metrics.

``train(config)`` runs a training and returns its directory; :func:`patchflow.runtime.load_run` gives back the
model and the facts of its training data. See the training guide for the run-directory layout.
"""

from .config import TrainConfig, make_config
from .errors import NonFiniteLossError, TrainingError, TrainingInterrupted
from .metrics import read_metrics
from .trainer import StepInfo, train

__all__ = ["NonFiniteLossError", "StepInfo", "TrainConfig", "TrainingError", "TrainingInterrupted", "make_config",
           "read_metrics", "train"]
