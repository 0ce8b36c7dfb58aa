"""The training loop shared by every model, on CPU or CUDA, in one process or many (``torchrun``)."""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.loader import make_loader
from ..data.store import PresetStore, open_store
from ..locking import FolderLock
from ..progress import QUIET, Progress, Task, or_quiet
from ..model import SynthModel, TrainingStep
from ..models import build_model
from .averaging import WeightAverage
from .config import TrainConfig
from .distributed import all_sum, any_flag, init_distributed, shutdown_distributed
from .errors import NonFiniteLossError, TrainingError, TrainingInterrupted
from .metrics import MetricsLog
from .state import capture_rng, has_checkpoint, load_checkpoint, restore_rng, save_checkpoint, seed_everything

CONFIG_FILE = "config.json"
DATA_FILE = "data.json"


@dataclass
class StepInfo:
    """What a step callback sees after each optimisation step.

    Attributes:
        epoch: 0-based epoch.
        batch: Batches done in this epoch.
        step: Optimisation steps done since the start of the run.
        loss: Loss of the step.
    """

    epoch: int
    batch: int
    step: int
    loss: float


StepCallback = Callable[[StepInfo], None]


def _cardinality(spec: Any, classify_steps: int) -> int:
    """Classes of a parameter for the model: its own, or its grid's values when that grid is small enough."""
    if not spec.is_continuous:
        return int(spec.cardinality)
    if classify_steps and spec.step:
        values = int(round((spec.high - spec.low) / spec.step)) + 1
        if 2 <= values <= classify_steps:
            return values
    return 0


def complete_model_config(config: TrainConfig, store: PresetStore) -> TrainConfig:
    """Fill the data-dependent model fields (parameter count and kinds, mel shape, tag pairs) from ``store``."""
    cards = [_cardinality(spec, config.model.classify_steps) for spec in store.parameters]
    model = config.model.model_copy(update={
        "n_params": len(cards),
        "cardinalities": cards if any(cards) else [],
        "input_shape": tuple(int(s) for s in store.mel.shape[1:]),
        "n_tags": len(store.tag_pairs),
    })
    return config.model_copy(update={"model": type(config.model).model_validate(model.model_dump())})


def describe_store(store: PresetStore, given_path: str) -> dict[str, Any]:
    """The facts about the training store a trained model needs later (saved as ``data.json``).

    Besides the parameters, normalisation, render and feature settings, they hold the store's ``base_preset``
    (the values of every parameter not learned) and its ``reference_peak`` (the median peak of the training
    renders, :func:`~patchflow.data.importing.reference_peak`), so that a run matches sounds the same way with or
    without its training store.
    """
    from ..data.importing import reference_peak

    return {
        "path": given_path,
        "absolute_path": str(Path(store.path).resolve()),
        "synth": store.synth_id,
        "parameters": store.parameters.to_json(),
        "mel_mean": store.mel_mean,
        "mel_std": store.mel_std,
        "render_settings": dataclasses.asdict(store.render_settings),
        "features": store.features.to_json(),
        "tag_pairs": list(store.tag_pairs),
        "mel_shape": [int(s) for s in store.mel.shape[1:]],
        "split_sizes": {split: int(len(store.split_indices(split))) for split in ("train", "valid", "test")},
        "base_preset": dict(store.meta["base_preset"]),
        "reference_peak": reference_peak(store),
    }


class _StopRequest:
    """Turns the first SIGINT / SIGTERM into a request to stop after the current step (a second SIGINT aborts)."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self) -> Iterator["_StopRequest"]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Trainer:
    """One training run (use :func:`train`)."""

    def __init__(self, config: TrainConfig, *, resume: bool, callbacks: Sequence[StepCallback],
                 progress: Progress | None = None) -> None:
        self.run_dir = Path(config.out)
        self.callbacks = list(callbacks)
        self.progress = or_quiet(progress)
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        self.ctx, self.device = init_distributed(config.device)
        # One writer per run directory: the main process holds its lock until the run ends (see train()).
        self.lock = FolderLock(self.run_dir, "run directory") if self.ctx.is_main else None
        if self.lock is not None:
            self.lock.acquire()
        try:
            self._setup(config, resume)
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise

    def _setup(self, config: TrainConfig, resume: bool) -> None:
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise TrainingError(f"device {config.device!r} asked for, but CUDA is not available here")
        self.store = open_store(self._store_location(config, resume))
        config = complete_model_config(config, self.store)
        if config.batch_size % self.ctx.world_size:
            raise TrainingError(f"batch size {config.batch_size} is not divisible by the {self.ctx.world_size} "
                                f"processes")
        self.config = config
        self.resume = resume
        self._check_run_dir()
        seed_everything(config.seed)
        self.model: SynthModel = build_model(config.model).to(self.device)
        self.net: nn.Module = self.model
        self.steps = self._training_steps()
        #: The moving average of the weights that is validated and saved as the best model, when enabled.
        self.average = WeightAverage(self.model, config.ema_decay) if config.ema_decay is not None else None
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            if self.device.type == "cuda":
                self.net = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            # each step's backward reaches only part of the model (a discriminator step leaves the encoder out)
            self.net = DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=config.find_unused_parameters or len(self.steps) > 1)
        # One Adam optimiser and one plateau scheduler per training step (the first are also .optimizer and
        # .scheduler); one gradient scaler for all, updated once per batch.
        self.optimizers = [torch.optim.Adam(step.parameters, lr=config.lr * step.lr_scale,
                                            weight_decay=config.weight_decay) for step in self.steps]
        self.schedulers = [torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience,
            min_lr=config.min_lr * step.lr_scale) for step, optimizer in zip(self.steps, self.optimizers)]
        self.optimizer, self.scheduler = self.optimizers[0], self.schedulers[0]
        #: The autocast precision: float16 with gradient scaling on CUDA, bfloat16 on the CPU, or none.
        self.amp_dtype = torch.float16 if config.amp and self.device.type == "cuda" else \
            torch.bfloat16 if config.cpu_amp and self.device.type == "cpu" else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        local_batch = config.batch_size // self.ctx.world_size
        self.train_loader = make_loader(self.store, "train", local_batch, shuffle=True, seed=config.seed,
                                        device=self.device, rank=self.ctx.rank, world_size=self.ctx.world_size)
        if len(self.train_loader.rows) == 0:
            raise TrainingError(f"{config.data}: the training split is empty")
        self.valid_loader = make_loader(self.store, "valid", local_batch, shuffle=False, device=self.device,
                                        rank=self.ctx.rank, world_size=self.ctx.world_size)
        self.state: dict[str, Any] = {"epoch": 0, "batch": 0, "step": 0, "best_valid": math.inf, "best_epoch": -1,
                                      "stall": 0, "sums": {}, "count": 0, "status": "running"}

    def _training_steps(self) -> list[TrainingStep]:
        """The model's declared optimisation steps, checked: at least one, distinct identifier names, no parameter
        in two steps."""
        steps = list(self.model.training_steps())
        name = type(self.model).__name__
        if not steps:
            raise TrainingError(f"{name} declares no training step")
        names = [step.name for step in steps]
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            raise TrainingError(f"{name}: training step names must be distinct identifiers, got {names}")
        seen: set[int] = set()
        for step in steps:
            ids = {id(p) for p in step.parameters}
            if ids & seen:
                raise TrainingError(f"{name}: a parameter belongs to more than one training step ({step.name!r})")
            seen |= ids
        return steps

    @staticmethod
    def _state_key(kind: str, index: int, step: TrainingStep) -> str:
        """Checkpoint key of a step's optimiser or scheduler: ``optimizer`` for the first step (as in runs of
        one optimiser), ``optimizer_<name>`` for the others."""
        return kind if index == 0 else f"{kind}_{step.name}"

    # -------------------------------------------------------------------------------------------- run dir
    @staticmethod
    def _store_location(config: TrainConfig, resume: bool) -> Path:
        """The store path as given; a resumed run started elsewhere falls back to the recorded absolute path."""
        given = Path(config.data)
        recorded = Path(config.out) / DATA_FILE
        if resume and not given.exists() and recorded.exists():
            absolute = Path(json.loads(recorded.read_text()).get("absolute_path", ""))
            if absolute.exists():
                return absolute
        return given

    def _check_run_dir(self) -> None:
        if self.resume:
            if not has_checkpoint(self.run_dir, "last"):
                raise TrainingError(f"{self.run_dir}: nothing to resume (no checkpoints/last.pt)")
            saved = TrainConfig.load(self.run_dir / CONFIG_FILE)
            if saved.model != self.config.model:
                raise TrainingError(f"{self.run_dir}: the model config differs from the saved run's; "
                                    f"resume with the same model settings or start a new run")
        elif has_checkpoint(self.run_dir, "last"):
            raise TrainingError(f"{self.run_dir} already holds a run; resume it with --resume or choose another "
                                f"--out")

    def _write_run_files(self) -> None:
        if not self.ctx.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.save(self.run_dir / CONFIG_FILE)
        (self.run_dir / DATA_FILE).write_text(json.dumps(describe_store(self.store, self.config.data), indent=2)
                                              + "\n")

    # -------------------------------------------------------------------------------------------- checkpoints
    def _save(self, name: str) -> None:
        if not self.ctx.is_main:
            return
        rng_tensors, rng_info = capture_rng()
        tensors = {"model": self.model.state_dict(), "scaler": self.scaler.state_dict(),
                   **{f"rng_{k}": v for k, v in rng_tensors.items()}}
        for i, step in enumerate(self.steps):
            tensors[self._state_key("optimizer", i, step)] = self.optimizers[i].state_dict()
            tensors[self._state_key("scheduler", i, step)] = self.schedulers[i].state_dict()
        if self.average is not None:
            tensors["average"] = self.average.state_dict()
        save_checkpoint(self.run_dir, name, tensors, {**self.state, "rng": rng_info})

    def _save_best(self) -> None:
        if self.ctx.is_main:
            save_checkpoint(self.run_dir, "best", {"model": self._validated_model().state_dict()},
                            {"epoch": self.state["best_epoch"], "valid_loss": self.state["best_valid"]})

    def _restore(self) -> None:
        tensors, info = load_checkpoint(self.run_dir, "last", map_location=self.device)
        self.model.load_state_dict(tensors["model"])
        for i, step in enumerate(self.steps):
            key = self._state_key("optimizer", i, step)
            if key not in tensors:
                raise TrainingError(f"{self.run_dir}: the last checkpoint holds no state for the training step "
                                    f"{step.name!r} (saved by another version of the model?)")
            self.optimizers[i].load_state_dict(tensors[key])
            self.schedulers[i].load_state_dict(tensors[self._state_key("scheduler", i, step)])
        self.scaler.load_state_dict(tensors["scaler"])
        if self.average is not None:
            if "average" not in tensors:
                raise TrainingError(f"{self.run_dir}: the last checkpoint holds no weight average; resume without "
                                    f"ema_decay, as the run was started")
            self.average.load_state_dict(tensors["average"])
        restore_rng({k[4:]: v for k, v in tensors.items() if k.startswith("rng_")}, info.pop("rng"))
        self.state.update(info)

    def _validated_model(self) -> SynthModel:
        """The weights that are validated and saved as the best model: the moving average when there is one."""
        return self.average.model if self.average is not None else self.model

    # ----------------------------------------------------------------------------------------------- steps
    def _autocast(self):
        if self.amp_dtype is not None:
            return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)
        return nullcontext()

    def _train_step(self, batch: dict[str, torch.Tensor], beta: float) -> dict[str, float]:
        """One training iteration on a batch: every declared step in order (a model of one optimiser has one).

        Returns the first step's terms as they are and a later step's prefixed by its name (``disc_loss``).
        """
        self.net.train()
        terms: dict[str, float] = {}
        for i, (step, optimizer) in enumerate(zip(self.steps, self.optimizers)):
            with self._autocast():
                out = self.net(batch, beta) if i == 0 else self.net(batch, beta, step=step.name)
            loss = out["loss"]
            bad = any_flag(not bool(torch.isfinite(loss.detach()).item()), self.ctx, self.device)
            if bad:
                where = "" if len(self.steps) == 1 else f" of training step {step.name!r}"
                values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in out.items())
                raise NonFiniteLossError(
                    f"the loss{where} became non-finite at epoch {self.state['epoch'] + 1}, step "
                    f"{self.state['step'] + 1} ({values}); the run stopped and {self.run_dir}/checkpoints keeps the "
                    f"last good checkpoint. Try a lower --lr or --set grad_clip=1.0")
            # every gradient goes, not only this step's: an earlier step's backward reaches later steps'
            # parameters (the main loss of vae_avb goes through its discriminator)
            self.model.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.config.grad_clip is not None:
                self.scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(step.parameters, self.config.grad_clip)
            self.scaler.step(optimizer)
            prefix = "" if i == 0 else f"{step.name}_"
            terms.update({f"{prefix}{k}": float(v.detach()) for k, v in out.items()})
        self.scaler.update()
        if self.average is not None:
            self.average.update(self.model)
        return terms

    @torch.no_grad()
    def _validate(self, beta: float) -> dict[str, float]:
        model = self._validated_model()
        model.eval()
        sums: dict[str, float] = {}
        count, sq_err = 0, 0.0
        for i, batch in enumerate(self.valid_loader):
            if self.config.max_valid_batches is not None and i >= self.config.max_valid_batches:
                break
            with self._autocast():
                out = model.loss(batch, beta=beta)
                pred = model.predict_params(batch["mel"])
            n = batch["mel"].shape[0]
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
            sq_err += float(((pred.float() - batch["params"]) ** 2).mean(dim=1).sum())
            count += n
        keys = sorted(sums)
        totals = all_sum(torch.tensor([sums[k] for k in keys] + [sq_err, float(count)], dtype=torch.float64,
                                      device=self.device), self.ctx).tolist()
        if totals[-1] == 0:
            return {}
        result = {f"valid_{k}": v / totals[-1] for k, v in zip(keys, totals)}
        result["valid_param_mse"] = totals[-2] / totals[-1]
        return result

    # ------------------------------------------------------------------------------------------------- loop
    def run(self) -> Path:
        """Train until the epoch budget, early stopping, an interruption or a non-finite loss."""
        if self.resume:
            self._restore()
            if self.state["status"] == "finished" and self.state["epoch"] < self.config.epochs:
                self.state["status"] = "running"  # a larger epoch budget extends a finished run
            limit = self.config.time_limit_s
            if self.state["status"] == "time_limit" and (limit is None or self.state["train_seconds"] < limit):
                self.state["status"] = "running"  # so does a larger time budget
        self._write_run_files()
        log = MetricsLog(self.run_dir, resume_epoch=self.state["epoch"]) if self.ctx.is_main else None
        stop = _StopRequest()
        try:
            progress = self.progress if self.ctx.is_main else QUIET
            with stop.installed(), progress.task("epochs", self.config.epochs, "epochs",
                                                 completed=self.state["epoch"]) as epochs_task:
                while self.state["epoch"] < self.config.epochs and self.state["status"] == "running":
                    self._run_epoch(progress, stop, log)
                    epochs_task.set(self.state["epoch"], info=f"best valid {self.state['best_valid']:.4g}")
                if self.state["status"] == "running":
                    self.state["status"] = "finished"
                    self._save("last")
        finally:
            if log is not None:
                log.close()
        return self.run_dir

    def _budget_progress(self, batch: int, n_batches: int, epoch_started: float) -> float:
        """How much of the run's budget is spent before ``batch`` of this epoch: of its epochs, or of its time
        limit when that is further along."""
        cfg, state = self.config, self.state
        progress = (state["epoch"] + batch / n_batches) / cfg.epochs
        if cfg.time_limit_s is not None:
            spent = state.get("train_seconds", 0.0) + time.perf_counter() - epoch_started
            progress = max(progress, spent / cfg.time_limit_s)
        return progress

    def _set_cosine_lr(self, progress: float) -> None:
        factor = self.config.lr_factor(progress)
        for step, optimizer in zip(self.steps, self.optimizers):
            for group in optimizer.param_groups:
                group["lr"] = self.config.lr * step.lr_scale * factor

    def _train_epoch(self, task: Task, n_batches: int, beta: float, stop: _StopRequest, started: float) -> None:
        """The optimisation steps of one epoch, from the saved position inside it."""
        state, epoch = self.state, self.state["epoch"]
        cosine = self.config.lr_schedule == "cosine"
        for i, batch in enumerate(self.train_loader):
            if i >= n_batches:
                break
            if i < state["batch"]:
                continue
            if cosine:
                self._set_cosine_lr(self._budget_progress(i, n_batches, started))
            terms = self._train_step(batch, beta)
            n = batch["mel"].shape[0]
            for k, v in terms.items():
                state["sums"][k] = state["sums"].get(k, 0.0) + v * n
            state["count"] += n
            state["batch"] = i + 1
            state["step"] += 1
            info = StepInfo(epoch, i + 1, state["step"], terms["loss"])
            for callback in self.callbacks:
                callback(info)
            task.set(i + 1, info=f"loss {terms['loss']:.4g}")
            if any_flag(stop.requested, self.ctx, self.device):
                state["status"] = "running"
                self._save("last")
                raise TrainingInterrupted(
                    f"interrupted at epoch {epoch + 1}, batch {i + 1}; a resumable checkpoint is in "
                    f"{self.run_dir}/checkpoints (continue with `patchflow train --resume --out {self.run_dir}`)",
                    self.run_dir)

    def _run_epoch(self, progress: Progress, stop: _StopRequest, log: MetricsLog | None) -> None:
        cfg, state = self.config, self.state
        epoch = state["epoch"]
        beta = cfg.beta(epoch)
        self.train_loader.set_epoch(epoch)
        n_batches = len(self.train_loader)
        if cfg.max_batches_per_epoch is not None:
            n_batches = min(n_batches, cfg.max_batches_per_epoch)
        started = time.perf_counter()
        with progress.task(f"epoch {epoch + 1}", n_batches, "batches", completed=state["batch"]) as task:
            self._train_epoch(task, n_batches, beta, stop, started)
        train_terms = {f"train_{k}": v / max(state["count"], 1) for k, v in state["sums"].items()}
        # validated at the final weight of the regulariser, so that losses of the warm-up's epochs compare with
        # later ones (at the epoch's own beta the loss rises through the warm-up: the best checkpoint stayed at an
        # early epoch and the plateau schedule halved the learning rate)
        valid_terms = self._validate(cfg.beta_max)
        monitored = valid_terms.get("valid_loss", train_terms.get("train_loss", math.inf))
        if cfg.lr_schedule == "plateau":
            for scheduler in self.schedulers:
                scheduler.step(monitored)
        improved = monitored < state["best_valid"]
        state.update(epoch=epoch + 1, batch=0, sums={}, count=0)
        if improved:
            state.update(best_valid=monitored, best_epoch=epoch + 1, stall=0)
            self._save_best()
        else:
            state["stall"] += 1
        if cfg.early_stopping_patience is not None and state["stall"] >= cfg.early_stopping_patience:
            state["status"] = "early_stopped"
        state["train_seconds"] = state.get("train_seconds", 0.0) + time.perf_counter() - started
        if cfg.time_limit_s is not None and state["train_seconds"] >= cfg.time_limit_s \
                and state["status"] == "running":
            state["status"] = "time_limit"
        if log is not None:
            rates = {f"lr_{step.name}": optimizer.param_groups[0]["lr"]
                     for step, optimizer in zip(self.steps[1:], self.optimizers[1:])}
            log.write({"epoch": epoch + 1, "step": state["step"], "lr": self.optimizer.param_groups[0]["lr"],
                       **rates, "beta": beta, **train_terms, **valid_terms, "seconds": time.perf_counter() - started})
        self._save("last")


def train(config: TrainConfig, *, resume: bool = False, callbacks: Sequence[StepCallback] = (),
          progress: Progress | None = None) -> Path:
    """Train the model of ``config`` and return its run directory.

    Args:
        config: The run's settings (see :func:`patchflow.training.make_config`).
        resume: Continue the run in ``config.out`` from its last checkpoint (identically, on CPU, to a run that
            was never interrupted).
        callbacks: Called after every optimisation step with a :class:`StepInfo`.
        progress: Receives the epoch and batch progress (default: quiet; ``patchflow train`` draws bars unless
            ``config.progress`` is off).

    Raises:
        TrainingError: The run directory already holds a run (without ``resume``), or nothing to resume.
        NonFiniteLossError: The loss became NaN or infinite (the last good checkpoint is kept).
        TrainingInterrupted: SIGINT / SIGTERM arrived; a resumable checkpoint was saved.
    """
    trainer = None
    try:
        trainer = Trainer(config, resume=resume, callbacks=callbacks, progress=progress)
        return trainer.run()
    finally:
        if trainer is not None:
            if trainer.lock is not None:
                trainer.lock.release()
            if trainer.ctx.distributed:
                shutdown_distributed()
