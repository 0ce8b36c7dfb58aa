"""``patchflow evaluate``: score trained runs and the reference methods on a store's test split."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import console, err_console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to ``app``."""

    @app.command()
    @friendly_errors
    def evaluate(
        runs: list[Path] = typer.Argument(..., help="Run directories written by `patchflow train`."),
        data: Path = typer.Option(..., "--data", help="The dataset store whose test split is scored."),
        ood: list[Path] = typer.Option([], "--ood", help="Out-of-domain audio store(s), scored on audio only. "
                                       "Repeatable."),
        out: Path = typer.Option(Path("report"), "--out", "-o",
                                 help="Folder for results.md, results.json, figures/."),
        max_items: int = typer.Option(None, "--max-items", help="Score only the first N test items."),
        refine_budget: float = typer.Option(0.0, "--refine-budget",
                                            help="Seconds of synth-in-the-loop search per item; adds the "
                                                 "'+ retrieval' and '+ refinement' rows of each run (0: off)."),
        neighbours: int = typer.Option(4, "--neighbours", min=1, help="Nearest training presets among each run's "
                                       "'+ retrieval' candidates."),
        reference_candidates: Optional[int] = typer.Option(
            None, "--reference-candidates", min=1, help="Nearest training presets ranked by 'Retrieval + "
            "refinement' (default: as many candidates as the largest model row ranks)."),
        latent_samples: int = typer.Option(16, "--latent-samples", min=0, help="Latent samples around each sound's code "
                                           "among the '+ retrieval' candidates."),
        model_samples: Optional[int] = typer.Option(None, "--model-samples", min=0, help="Draws of a generative model "
                                                    "(flow_gen) among them (default: --latent-samples)."),
        examples: int = typer.Option(3, "--examples", help="Test items drawn as spectrogram figures."),
        workers: int = typer.Option(None, "--workers", help="Render threads (default: usable CPUs)."),
        device: str = typer.Option("cpu", "--device", help="Where the models run (cpu, cuda)."),
        checkpoint: str = typer.Option("best", "--checkpoint", help="best or last."),
        metric: str = typer.Option("sc", "--metric", help="Distance that ranks candidates and drives the search: "
                                   "sc (spectral convergence), log_mse (log-mel MSE, penalises silence) or "
                                   "sc+db (SC plus the peak-referenced dB distance / 20: quiet detail counts too)."),
        seed: int = typer.Option(0, "--seed", help="Seed of latent sampling and search."),
        as_json: bool = typer.Option(False, "--json", help="Print results.json instead of the tables."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    ) -> None:
        """Evaluate RUNS on the test split of --data: parameter error, audio error of re-rendered presets
        (spectral convergence, log-mel MSE), paired comparisons, and two reference rows (training mean,
        nearest-neighbour retrieval)."""
        from ..data.store import open_store
        from ..evaluation.evaluate import EvalSettings
        from ..evaluation.evaluate import evaluate as run_evaluation
        from ..evaluation.report import write_report
        from ..runtime import load_run
        from .progress import ConsoleProgress

        store = open_store(data)
        loaded = [load_run(r, device=device, checkpoint=checkpoint) for r in runs]
        others = [(Path(p).stem, open_store(p)) for p in ood]
        settings = EvalSettings(max_items=max_items, refine_budget=refine_budget, examples=examples,
                                workers=workers, seed=seed, search_metric=metric, neighbours=neighbours,
                                reference_candidates=reference_candidates,
                                latent_samples=latent_samples, model_samples=model_samples)
        result = run_evaluation(loaded, store, others, settings,
                                progress=ConsoleProgress(err_console, enabled=progress, transient=True))
        files = write_report(result, out)
        if as_json:
            typer.echo(files["json"].read_text(encoding="utf-8").rstrip())
            return
        console.print(files["markdown"].read_text(encoding="utf-8"), markup=False, highlight=False)
        console.print(f"Wrote {files['markdown']}, {files['json']} and figures in {files['figures']}", markup=False,
                      highlight=False)
