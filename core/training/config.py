"""The training configuration (saved as ``config.json`` in every run directory)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models.config import CPU_SIZES, ModelConfig, SizePreset

#: Trainer settings of the ``small`` preset: a run that is useful after minutes on 2 CPU cores.
SMALL_TRAINING: dict[str, Any] = {
    "epochs": 30,
    "batch_size": 32,
    "lr": 1e-3,
    "beta_warmup_epochs": 5,
    "plateau_patience": 3,
    "early_stopping_patience": 8,
}


#: Trainer settings of the ``cpu`` preset: the CPU recipe of the quality table, a 25-minute budget per model. The
#: KL is weighed down as much as the reconstruction (``beta_max`` = the preset's ``recon_weight``), which keeps
#: the auto-encoder's own balance of the two; at ``beta_max=1`` the latent carried about 5 nats. The preset also
#: trains in bfloat16 mixed precision where the CPU has bfloat16 instructions (``cpu_amp``, decided by
#: :func:`cpu_has_bfloat16` when the config is made, so ``config.json`` says which way a run went).
CPU_TRAINING: dict[str, Any] = {**SMALL_TRAINING, "epochs": 200, "time_limit_s": 1500.0,
                                "early_stopping_patience": 30, "beta_max": CPU_SIZES["recon_weight"]}


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), so that ``cpu_amp`` speeds training up.

    torch answers through helpers of ``torch.cpu`` that are not public API; where they are missing the answer is
    no, and a run stays in float32.
    """
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(probe()) for probe in probes if probe is not None)


class TrainConfig(BaseModel):
    """Everything that defines a training run. Defaults follow the paper (GPU scale).

    Attributes:
        data: Path of the dataset store, as given (relative paths are kept relative to the working directory
            the run was started from; :func:`~patchflow.runtime.load_run` also tries the run directory).
        out: Run directory.
        model: Architecture (data-dependent fields are filled from the store).
        preset: Size preset the config was made from (informative).
        epochs: Maximum number of epochs (paper: 500).
        batch_size: Global batch size (split evenly over distributed processes).
        lr: Adam learning rate (paper: 2e-4).
        weight_decay: Adam weight decay.
        seed: Seed of the initialisation, the data order and every random draw.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (distributed runs use the local rank's GPU).
        amp: Mixed precision (``torch.autocast``, float16 with gradient scaling) on CUDA; ignored on CPU.
        cpu_amp: Mixed precision on the CPU: ``torch.autocast`` with bfloat16 (no gradient scaling). It pays on
            CPUs with AVX512-BF16 or AMX instructions (``lscpu`` lists ``avx512_bf16``, ``amx_bf16``), where the
            convolutions run about twice as fast; elsewhere bfloat16 is emulated and slower. The flows and
            likelihoods stay in float32 either way.
        beta_warmup_epochs: The weight of the latent regulariser grows linearly from 0 to ``beta_max`` over these
            epochs (paper: 100); 0 disables the warm-up.
        beta_max: Final weight of the latent regulariser.
        lr_schedule: ``plateau`` (the paper's: halve the rate after ``plateau_patience`` epochs without
            validation improvement) or ``cosine`` (from ``lr`` down to ``min_lr`` along a half cosine over the
            budget, batch by batch: the epochs, or the time limit when that ends the run first). On the ``cpu``
            recipe's ``flow_post`` it was level with the plateau at 6 minutes and worse at 12 (training guide).
        plateau_patience: Halve the learning rate after this many epochs without validation improvement
            (paper: 20).
        plateau_factor: Factor applied to the learning rate on a plateau.
        min_lr: Lower bound of the learning rate.
        early_stopping_patience: Stop after this many epochs without validation improvement (``None``: never).
        time_limit_s: Stop after the first epoch that ends with this many seconds of training spent (counted over
            resumes; ``None``: no limit). Gives runs of different models the same budget.
        max_batches_per_epoch: Cap on training batches per epoch (``None``: the whole split); for smoke runs.
        max_valid_batches: Cap on validation batches (``None``: the whole split).
        grad_clip: Clip the gradient norm to this value (``None``: no clipping).
        ema_decay: Keep an exponential moving average of the weights (and batch-norm statistics) with this decay
            per optimisation step, validate it and save it as the run's best model (``None``: the raw weights).
            An average over the last ``1 / (1 - ema_decay)`` steps smooths the noise of a rate that is still
            high when the budget ends (training guide).
        find_unused_parameters: Passed to DistributedDataParallel (for plugin models with unused branches).
        num_threads: Torch CPU threads (``None``: torch's default). On a busy machine, 1 can be faster.
        progress: Show progress bars when trained from the command line (library calls take a
            :class:`~patchflow.progress.Progress` instead).
    """

    model_config = ConfigDict(extra="forbid")

    data: str
    out: str
    model: ModelConfig = Field(default_factory=ModelConfig)
    preset: SizePreset = "paper"
    epochs: int = Field(500, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    cpu_amp: bool = False
    beta_warmup_epochs: int = Field(100, ge=0)
    beta_max: float = Field(1.0, ge=0)
    lr_schedule: Literal["plateau", "cosine"] = "plateau"
    plateau_patience: int = Field(20, ge=0)
    plateau_factor: float = Field(0.5, gt=0, lt=1)
    min_lr: float = Field(1e-6, ge=0)
    early_stopping_patience: int | None = Field(60, ge=1)
    time_limit_s: float | None = Field(None, gt=0)
    max_batches_per_epoch: int | None = Field(None, ge=1)
    max_valid_batches: int | None = Field(None, ge=1)
    grad_clip: float | None = Field(None, gt=0)
    ema_decay: float | None = Field(None, gt=0, lt=1)
    find_unused_parameters: bool = False
    num_threads: int | None = Field(None, ge=1)
    progress: bool = True

    def beta(self, epoch: int) -> float:
        """Weight of the latent regulariser at (0-based) ``epoch``."""
        if self.beta_warmup_epochs == 0:
            return self.beta_max
        return self.beta_max * min(1.0, epoch / self.beta_warmup_epochs)

    def lr_factor(self, progress: float) -> float:
        """Multiplier of ``lr`` under the cosine schedule after ``progress`` (0 to 1) of the budget."""
        floor = self.min_lr / self.lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))

    def save(self, path: str | Path) -> None:
        """Write the config as JSON."""
        Path(path).write_text(self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a config written by :meth:`save`."""
        return cls.model_validate(json.loads(Path(path).read_text()))


def _set_dotted(target: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def make_config(data: str | Path, out: str | Path, model: str, *, preset: SizePreset = "paper",
                overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A training config for ``model`` with the sizes and trainer settings of ``preset``, then ``overrides``.

    Args:
        data: Dataset store path.
        out: Run directory.
        model: Registered model name.
        preset: ``paper`` (defaults), ``small`` or ``cpu`` (see the training guide).
        overrides: Field values, with dotted keys for nested ones (``{"epochs": 5, "model.conv_channels": 8}``).

    Raises:
        pydantic.ValidationError: An override names an unknown field or has an invalid value.
    """
    model_cfg = ModelConfig(name=model).with_preset(preset)
    fields: dict[str, Any] = {"data": str(data), "out": str(out), "preset": preset,
                              "model": model_cfg.model_dump()}
    if preset == "small":
        fields.update(SMALL_TRAINING)
    elif preset == "cpu":
        fields.update(CPU_TRAINING, cpu_amp=cpu_has_bfloat16())
    for key, value in (overrides or {}).items():
        _set_dotted(fields, key, value)
    return TrainConfig.model_validate(fields)
