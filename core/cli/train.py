"""``patchflow train``: train a model on a dataset store (also under ``torchrun`` for several GPUs)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import typer

from .app import console, err_console, friendly_errors

PRESETS = ("auto", "small", "cpu", "paper")
#: Rough training speed in samples per second on 2 CPU cores, by size preset (measured with the built-in models:
#: ``small`` 50-160/s on a busy machine, 300-640/s idle, e.g. ``flow_post`` on the DX7 corpus 640/s at batch 32;
#: ``paper`` 10-20/s); enough to tell minutes from hours before a run starts.
CPU_SAMPLES_PER_S = {"small": 300.0, "cpu": 300.0, "paper": 15.0}
#: ... and by model where the ``cpu`` preset's models differ severalfold (float32, 2 idle cores, batch 32:
#: ``flow_gen`` 1,390/s on the demo's store, ``flow_post`` 700-830/s on the DX7 corpus, ``cnn`` about 300/s).
CPU_SAMPLES_PER_S_BY_MODEL = {"cpu": {"flow_gen": 1300.0, "flow_post": 700.0}}


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values are read as JSON when they parse (numbers, booleans, lists)."""
    from ..errors import PatchflowError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise PatchflowError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def choose_preset(preset: str, device: str) -> str:
    """The size preset to train with: ``auto`` is ``paper`` on CUDA and ``small`` elsewhere.

    Raises:
        PatchflowError: ``preset`` is none of :data:`PRESETS`.
    """
    from ..errors import PatchflowError

    if preset not in PRESETS:
        raise PatchflowError(f"unknown --preset {preset!r}; choose {', '.join(PRESETS)}")
    if preset != "auto":
        return preset
    return "paper" if device.startswith("cuda") else "small"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def describe_plan(config: Any, asked: str) -> str:
    """One line saying which sizes a new run uses and roughly what it costs, printed before it starts."""
    from ..data.store import open_store

    device = config.device
    try:
        train_rows = len(open_store(config.data).split_indices("train"))
    except Exception:  # the trainer reports an unreadable store properly; the estimate just goes without it
        train_rows = 0
    batches = math.ceil(train_rows / config.batch_size) if train_rows else 0
    if config.max_batches_per_epoch is not None and batches:
        batches = min(batches, config.max_batches_per_epoch)
    chosen = f"preset {config.preset}" + (f" (auto, for {device})" if asked == "auto" else f" on {device}")
    if config.cpu_amp and not device.startswith("cuda"):
        chosen += " in bfloat16 mixed precision"
    line = f"{chosen}: up to {_count(config.epochs, 'epoch')}"
    if batches:
        samples = config.epochs * min(train_rows, batches * config.batch_size)
        line += (f" x {_count(batches, 'batch', 'batches')} of {config.batch_size} ({train_rows} training presets), "
                 f"{_count(samples, 'sample')}")
        if not device.startswith("cuda"):
            rate = CPU_SAMPLES_PER_S_BY_MODEL.get(config.preset, {}).get(config.model.name,
                                                                        CPU_SAMPLES_PER_S[config.preset])
            line += f"; roughly {_duration(samples / rate)} at ~{rate:g} samples/s (2 CPU cores)"
    if config.time_limit_s is not None:
        line += f"; stops after the epoch that reaches {_duration(config.time_limit_s)} of training"
    if not device.startswith("cuda") and config.preset == "paper":
        line += "; paper sizes are a GPU job: --device cuda, or --preset small on CPU"
    elif not device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            line += "; CUDA is available: --device cuda trains the paper sizes"
    return line


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""

    @app.command()
    @friendly_errors
    def train(
        data: Path = typer.Option(None, "--data", help="Dataset store to train on (see `patchflow dataset`)."),
        model: str = typer.Option(None, "--model", help="Model name (see `patchflow models`)."),
        out: Path = typer.Option(..., "--out", "-o", help="Run directory (checkpoints, config.json, metrics.csv)."),
        preset: str = typer.Option("auto", "--preset",
                                   help="Sizes: 'small' (2 CPU cores, minutes), 'cpu' (the CPU recipe: 25 minutes "
                                        "per model), 'paper' (GPU scale, 500 epochs) or 'auto' (paper on CUDA, "
                                        "small elsewhere)."),
        epochs: int = typer.Option(None, "--epochs", help="Maximum epochs (default: the preset's)."),
        batch_size: int = typer.Option(None, "--batch-size", help="Global batch size (default: the preset's)."),
        lr: float = typer.Option(None, "--lr", help="Adam learning rate (default: the preset's)."),
        device: str = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default cpu)."),
        seed: int = typer.Option(None, "--seed", help="Random seed (default 0)."),
        max_batches: int = typer.Option(None, "--max-batches", help="Cap on training batches per epoch."),
        settings: list[str] = typer.Option([], "--set", help="Any config field, KEY=VALUE (dotted for the model: "
                                           "--set model.conv_channels=64). Repeatable."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    ) -> None:
        """Train a model; Ctrl-C saves a checkpoint that --resume continues exactly."""
        from ..errors import PatchflowError
        from ..training import TrainConfig, TrainingInterrupted, make_config
        from ..training import train as run_training

        overrides = parse_overrides(settings)
        for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr), ("device", device),
                           ("seed", seed), ("max_batches_per_epoch", max_batches)):
            if value is not None:
                overrides[key] = value
        overrides["progress"] = progress
        if resume:
            config_file = out / "config.json"
            if not config_file.exists():
                raise PatchflowError(f"{out}: nothing to resume (no config.json)")
            saved = TrainConfig.load(config_file).model_dump()
            # The run resumes in the folder given, wherever it was started (a copied run must not write the original).
            saved["out"] = str(out)
            for key, value in overrides.items():
                target = saved
                *parents, last = key.split(".")
                for part in parents:
                    target = target[part]
                target[last] = value
            config = TrainConfig.model_validate(saved)
        else:
            if data is None or model is None:
                raise PatchflowError("--data and --model are required (unless --resume)")
            sizes = choose_preset(preset, str(overrides.get("device", TrainConfig.model_fields["device"].default)))
            try:
                config = make_config(data, out, model, preset=sizes, overrides=overrides)  # type: ignore[arg-type]
            except ValueError as exc:
                raise PatchflowError(f"invalid training settings: {exc}") from None
            if os.environ.get("RANK", "0") == "0":  # once under torchrun
                err_console.print(describe_plan(config, preset), highlight=False, markup=False, soft_wrap=True)
        from .progress import ConsoleProgress

        try:
            run_dir = run_training(config, resume=resume,
                                   progress=ConsoleProgress(err_console, enabled=config.progress))
        except TrainingInterrupted as exc:
            err_console.print(f"[yellow]{exc}[/]", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        console.print(f"run saved in {run_dir}", highlight=False)
