"""``patchflow studio``: a local web page to match sounds, turn macro-knobs and explore a run's presets."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import console, err_console, friendly_errors


def register(app: typer.Typer) -> None:
    """Add ``studio`` to ``app``."""

    @app.command()
    @friendly_errors
    def studio(
        run_dir: Path = typer.Argument(None, metavar="RUN", show_default=False,
                                       help="Run directory written by `patchflow train` (leave it out to use the "
                                       "synth's pretrained matcher, where `patchflow match` has one)."),
        synth: str = typer.Option(None, "--synth", "-s", help="The synth whose pretrained matcher serves when no "
                                  "RUN is given (e.g. dexed)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (anything but the local "
                                 "machine lets others on the network use the studio)."),
        port: int = typer.Option(8765, "--port", help="Port to listen on."),
        no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the page in a web browser."),
        budget: float = typer.Option(2.0, "--budget", help="Seconds of synth-in-the-loop refinement per match."),
        top: int = typer.Option(4, "--top", help="Candidates shown per match."),
        max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", help="Largest upload accepted (MB)."),
        max_seconds: float = typer.Option(60.0, "--max-seconds", help="Longest sound accepted (seconds)."),
        workers: int = typer.Option(None, "--workers", help="Render threads (default: usable CPUs)."),
        device: str = typer.Option("cpu", "--device", help="Where the model runs."),
    ) -> None:
        """Serve the studio, a page on this machine: drop a sound to match it (the stages, the best candidates
        side by side with their spectrograms, each as a preset file), turn a candidate's macro-knobs, and hear
        the training presets on a map of the latent space. Needs the studio extra: pip install
        'patchflow[studio]'."""
        from ..errors import PatchflowError

        try:
            import uvicorn

            from ..studio.server import Studio, create_app
        except ImportError as exc:
            raise PatchflowError(f"the studio needs the studio extra ({exc.name} is missing): "
                                 "pip install 'patchflow[studio]'") from None
        from ..runtime import load_run

        if not 1 <= port <= 65535:
            raise PatchflowError(f"--port {port}: a port is 1-65535")
        if top < 1 or budget < 0 or max_upload_mb <= 0 or max_seconds <= 0:
            raise PatchflowError("--top is 1 or more, --budget 0 or more, --max-upload-mb and --max-seconds over 0")
        if run_dir is None:
            try:
                from .match import pretrained_bundle
            except ImportError:
                raise PatchflowError("give the RUN to serve: patchflow studio RUN") from None
            run_dir = pretrained_bundle(synth)
        run = load_run(run_dir, device=device)
        if synth is not None and synth != run.synth_id:
            raise PatchflowError(f"--synth {synth}, but {run.run_dir} learned {run.synth_id}")
        if host not in ("127.0.0.1", "localhost", "::1"):
            err_console.print(f"warning: listening on {host}: anyone who can reach this machine on port {port} can "
                              "upload sounds and use the studio", highlight=False, markup=False)
        state = Studio(run, budget=budget, top=top, max_upload_bytes=int(max_upload_mb * 1_000_000),
                       max_seconds=max_seconds, workers=workers)
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{port}/"
        console.print(f"patchflow studio on {address} ({run.synth_id}, {run.run_dir}); Ctrl+C stops it",
                      highlight=False, markup=False)
        if not no_browser:
            import threading
            import webbrowser

            threading.Timer(1.0, webbrowser.open, args=(address,)).start()
        try:
            uvicorn.run(create_app(state), host=host, port=port, log_level="warning")
        finally:
            state.close()
