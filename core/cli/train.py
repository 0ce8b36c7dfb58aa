"""``patchflow train``: train a model on a dataset store (also under ``torchrun`` for several GPUs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .app import console, err_console, friendly_errors


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


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""

    @app.command()
    @friendly_errors
    def train(
        data: Path = typer.Option(None, "--data", help="Dataset store to train on (see `patchflow dataset`)."),
        model: str = typer.Option(None, "--model", help="Model name (see `patchflow models`)."),
        out: Path = typer.Option(..., "--out", help="Run directory (checkpoints, config.json, metrics.csv)."),
        preset: str = typer.Option("paper", "--preset",
                                   help="Sizes: 'paper' (GPU scale) or 'small' (2 CPU cores, minutes)."),
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
            if preset not in ("paper", "small"):
                raise PatchflowError(f"unknown --preset {preset!r}; choose 'paper' or 'small'")
            try:
                config = make_config(data, out, model, preset=preset, overrides=overrides)  # type: ignore[arg-type]
            except ValueError as exc:
                raise PatchflowError(f"invalid training settings: {exc}") from None
        from .progress import ConsoleProgress

        try:
            run_dir = run_training(config, resume=resume,
                                   progress=ConsoleProgress(err_console, enabled=config.progress))
        except TrainingInterrupted as exc:
            err_console.print(f"[yellow]{exc}[/]", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        console.print(f"run saved in {run_dir}", highlight=False)
