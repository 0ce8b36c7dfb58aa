"""``patchflow index``: the compact retrieval index that lets a run match sounds without its training store."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import console, err_console, friendly_errors

index_app = typer.Typer(help="Retrieval indexes: a run's training voices in a few megabytes, so `patchflow match` "
                        "needs no store.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``index`` and its commands to ``app``."""
    app.add_typer(index_app, name="index")


@index_app.command("build")
@friendly_errors
def build(
    run_dir: Path = typer.Argument(..., help="Run directory written by `patchflow train`."),
    data: Path = typer.Option(None, "--data", help="The store to index (default: the run's training store)."),
    out: Path = typer.Option(None, "--out", "-o", help="Index file to write (default: RUN_DIR/index.npz, where "
                             "`patchflow match` looks)."),
    split: str = typer.Option("train", "--split", help="Rows to index: train (the voices the run learned from), "
                              "train+valid, or all usable rows."),
    dims: int = typer.Option(128, "--dims", help="Principal components of the log-mel kept per voice."),
    seed: int = typer.Option(0, "--seed", help="Seed of the randomised SVD."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Index the distinct voices of a store for RUN_DIR: their log-mels projected on principal components
    (float16), normalised parameters and names, in one index.npz.

    The store may vary more parameters than the run learns (a store built with `--params all` for a run of 16):
    `patchflow match` then retrieves whole voices and searches over all their parameters, the model's proposals
    completed by the run's base preset."""
    from ..data.store import open_store
    from ..errors import PatchflowError
    from ..runtime.index import build_index
    from ..runtime.run import load_run
    from .progress import ConsoleProgress

    run = load_run(run_dir)
    store_path = data or run.store_path
    if not store_path or not Path(store_path).exists():
        raise PatchflowError(f"the training store of {run_dir} ({store_path}) is not there; give it with --data")
    store = open_store(store_path)
    target = out or run.index_path
    if target.exists() and target.is_dir():
        raise PatchflowError(f"--out {target} is a folder; give the index file to write (index.npz)")
    if store.synth_id != run.synth_id or any(name not in store.parameters for name in run.parameters.names) or \
            store.features != run.feature_settings or store.render_settings.num_samples != \
            run.render_settings.num_samples:
        raise PatchflowError(f"{store.path} holds other voices than {run_dir} learned from (another synth, a "
                             f"learned parameter it does not vary, or other features or clip length); index the "
                             f"run's own store, or one of the same synth with more parameters")
    index = build_index(store, split=split, dims=dims, seed=seed, progress=ConsoleProgress(err_console,
                                                                                         enabled=progress))
    try:
        path = index.save(target)
    except OSError as exc:
        raise PatchflowError(f"cannot write {target}: {exc.strerror or exc}") from None
    console.print(f"wrote {path}: {len(index)} voices of {store.path}, {index.dims} dimensions, "
                  f"{path.stat().st_size / 1e6:.1f} MB", highlight=False, soft_wrap=True)
