"""``patchflow match``: find the preset that sounds like an audio file."""

from __future__ import annotations

import atexit
import gc
from pathlib import Path
from typing import Any

import typer

from .app import Command, console, err_console, friendly_errors

#: ``patchflow.apps.matching.NEIGHBOURS``, not imported here: the command line starts without loading torch.
NEIGHBOURS = 32


class MatchCommand(Command):
    """``patchflow match``'s usage has two forms: with a run, and with a synth's pretrained matcher."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [self.options_metavar or "[OPTIONS]", "RUN_DIR", "SOUND"]

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        super().format_usage(ctx, formatter)
        formatter.write_usage(ctx.command_path, f"{self.options_metavar or '[OPTIONS]'} SOUND [--synth SYNTH]",
                              prefix="   or: ")


def resolve_arguments(first: Path | None, second: Path | None, run: Path | None) -> tuple[Path | None, Path]:
    """``(run directory or None, sound)`` from the positional arguments and ``--run``.

    ``match RUN_DIR SOUND`` (two arguments) and ``match SOUND --run RUN_DIR`` name a run; ``match SOUND`` alone
    uses a synth's pretrained matcher. One argument that is a run directory is a forgotten SOUND.

    Raises:
        PatchflowError: No SOUND, two runs, or a run directory where the SOUND belongs.
    """
    from ..errors import PatchflowError

    if first is None:
        raise PatchflowError("give the SOUND to match: patchflow match SOUND [--synth dexed], or "
                             "patchflow match RUN_DIR SOUND")
    if second is None:
        sound = first
        if sound.is_dir() and (sound / "config.json").is_file():
            raise PatchflowError(f"{sound} is a run directory; give the SOUND to match after it: "
                                 f"patchflow match {sound} SOUND")
        return run, sound
    if run is not None:
        raise PatchflowError(f"two runs given ({first} and --run {run}); give one: patchflow match RUN_DIR SOUND "
                             "or patchflow match SOUND --run RUN_DIR")
    return first, second


def register(app: typer.Typer) -> None:
    """Add ``match`` to ``app``."""

    @app.command(cls=MatchCommand)
    @friendly_errors
    def match(
        run_dir: Path = typer.Argument(None, metavar="RUN_DIR", show_default=False,
                                       help="Run directory written by `patchflow train` (with `patchflow index "
                                       "build` it needs no store). Leave it out to use the synth's pretrained "
                                       "matcher (--synth)."),
        sound: Path = typer.Argument(None, metavar="SOUND", show_default=False,
                                     help="Any audio file (WAV, FLAC, OGG, MP3...): mixed to mono, resampled, from "
                                     "50 ms to 10 minutes."),
        run: Path = typer.Option(None, "--run", help="The run directory, when SOUND comes first."),
        synth: str = typer.Option(None, "--synth", "-s", help="Use this synth's pretrained matcher (default: the "
                                  "only installed one; see `patchflow plugins`)."),
        out: Path = typer.Option(Path("match"), "--out", "-o",
                                 help="Folder for the preset, audio, picture and match.json."),
        top: int = typer.Option(1, "--top", help="Also write the K best: a bank and rank-1.wav ... rank-K.wav."),
        note: int = typer.Option(None, "--note", help="MIDI note the candidates play (default: the sound's pitch, "
                                 "or the model's note when it has none)."),
        velocity: int = typer.Option(None, "--velocity", help="MIDI velocity the candidates play (default: the "
                                     "run's)."),
        budget: float = typer.Option(2.0, "--budget", help="Seconds of synth-in-the-loop refinement (0: off)."),
        data: Path = typer.Option(None, "--data", help="Training store for retrieval candidates (default: the "
                                  "run's index.npz, else the run's store when it exists)."),
        latent_samples: int = typer.Option(32, "--latent-samples", help="Latent samples around the sound's code."),
        neighbours: int = typer.Option(NEIGHBOURS, "--neighbours", help="Nearest training voices added as "
                                       "candidates."),
        workers: int = typer.Option(None, "--workers", help="Render threads (default: usable CPUs)."),
        device: str = typer.Option("cpu", "--device", help="Where the model runs."),
        metric: str = typer.Option("sc+db", "--metric", help="Distance that ranks candidates and drives the search: "
                                   "sc (spectral convergence), log_mse (log-mel MSE, penalises silence) or "
                                   "sc+db (SC plus the peak-referenced dB distance / 20: quiet detail counts too)."),
        seed: int = typer.Option(0, "--seed", help="Seed of sampling and search."),
        translate: Path = typer.Option(None, "--translate", help="A run of `patchflow translate train`: the model "
                                       "and the retrieval read SOUND's log-mel translated into the synth's domain "
                                       "(UNIT: the log-mel translated; UMT: the mel of the translated audio; "
                                       "candidates are still compared with SOUND itself)."),
        as_json: bool = typer.Option(False, "--json", help="Print match.json instead of a summary line."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    ) -> None:
        """Infer parameters for SOUND, refine them with the synth in the loop, and write the preset in the
        synth's native format with its rendering. With a RUN_DIR the run's model matches; without one, the
        synth's pretrained matcher."""
        from ..errors import PatchflowError

        run_path, sound_path = resolve_arguments(run_dir, sound, run)
        if out.exists() and not out.is_dir():
            raise PatchflowError(f"--out {out} is a file; give a folder for the match files")
        if note is not None and not 0 <= note <= 127:
            raise PatchflowError(f"--note {note}: a MIDI note is 0-127")
        if velocity is not None and not 1 <= velocity <= 127:
            raise PatchflowError(f"--velocity {velocity}: a MIDI velocity is 1-127")
        if top < 1:
            raise PatchflowError(f"--top {top}: write at least the best match (1)")
        if not budget >= 0:  # NaN too
            raise PatchflowError(f"--budget {budget}: give seconds of search, 0 or more")
        from ..runtime.search import OBJECTIVES

        if metric not in OBJECTIVES:
            raise PatchflowError(f"--metric {metric}: choose {', '.join(OBJECTIVES)}")
        # the process ends after the match: spare the interpreter its last full collection of the objects torch
        # and the others made (0.5 s of the command's 4-5); atexit handlers run before it
        atexit.register(gc.freeze)
        try:
            _match(run_path, sound_path, synth=synth, out=out, top=top, note=note, velocity=velocity,
                   budget=budget, data=data, latent_samples=latent_samples, neighbours=neighbours, workers=workers,
                   device=device, metric=metric, seed=seed, as_json=as_json, progress=progress,
                   translate=translate)
        except OSError as exc:  # a folder made read-only meanwhile, a full disk: one line, whole files only
            where = f"{exc.filename}: " if exc.filename else ""
            raise PatchflowError(f"cannot write the match: {where}{exc.strerror or exc}") from None


def pretrained_bundle(synth: str | None) -> Path:
    """The bundle folder of a synth's pretrained matcher (``synth`` None: the only registered one).

    Raises:
        PatchflowError: No matcher for that synth, several to choose from, or the bundle is not installed (the
            message gives the plugin's recipe).
    """
    from ..errors import PatchflowError
    from ..registries import matchers

    found = matchers()
    if synth is None:
        if len(found) != 1:
            known = ", ".join(found) or "none"
            raise PatchflowError(f"give a RUN_DIR, or --synth for a pretrained matcher (installed: {known})")
        synth = next(iter(found))
    if synth not in found:
        known = ", ".join(found) or "none"
        raise PatchflowError(f"no pretrained matcher for {synth!r} (synths with one: {known}); give a run: "
                             f"patchflow match RUN_DIR SOUND")
    matcher = found[synth]
    if not matcher.installed:
        how = matcher.recipe or "train a run and add `patchflow index build RUN`, then give it as RUN_DIR"
        raise PatchflowError(f"{synth}'s pretrained matcher is not installed ({matcher.path} holds no bundle): "
                             f"{how}; or give a run: patchflow match RUN_DIR SOUND")
    return matcher.path


def _match(run_path: Path | None, sound: Path, *, synth: str | None, out: Path, top: int, note: int | None,
           velocity: int | None, budget: float, data: Path | None, latent_samples: int, neighbours: int,
           workers: int | None, device: str, metric: str, seed: int, as_json: bool, progress: bool,
           translate: Path | None = None) -> None:
    from ..apps.matching import distance_meaning, match_sound, matching_facts, read_target, write_match
    from ..data.store import open_store
    from ..errors import PatchflowError
    from ..runtime import load_run
    from ..runtime.index import load_index
    from .progress import ConsoleProgress

    def say(text: str) -> None:
        err_console.print(text, highlight=False, soft_wrap=True, markup=False)

    bundle = run_path is None
    run = load_run(run_path if run_path is not None else pretrained_bundle(synth), device=device)
    if synth is not None and run_path is not None and synth != run.synth_id:
        raise PatchflowError(f"--synth {synth}, but {run.run_dir} learned {run.synth_id}")
    translator = _translator(translate, run) if translate is not None else None
    target = read_target(sound, run.render_settings, note=note)
    store, index = None, None
    if data is not None:
        store = open_store(data)
    elif run.index_path.exists():
        index = load_index(run.index_path)
        features = run.feature_settings
        index.check_fits(run.synth_id, run.parameters, features.to_json(),
                         (features.n_mels, features.frames(run.render_settings.num_samples)), what=str(run.run_dir))
    elif run.store_path and Path(run.store_path).exists():
        store = open_store(run.store_path)
    facts_store = store
    if run.missing_facts and store is None and run.store_path and Path(run.store_path).exists():
        facts_store = open_store(run.store_path)
    base, level, source = matching_facts(run, facts_store, index)
    if run.missing_facts:
        say(f"warning: {run.run_dir} records no {' or '.join(run.missing_facts)} (trained before runs recorded "
            f"them): using {source}")
    if index is None and store is None and neighbours > 0:
        say("warning: no retrieval index and no training store: no retrieval candidates (add one with "
            f"`patchflow index build {run.run_dir} --data STORE`)")
    for line in target.notes:
        say(line)
    if bundle:
        say(f"matcher: {synth or run.synth_id}'s pretrained bundle ({run.run_dir})")
    if translator is not None:
        say(f"the model and the retrieval read the sound translated by {translator.run_dir} (step "
            f"{translator.step}); candidates are compared with the sound itself")
    result = match_sound(run, target.audio, sound=target.sound, note=target.note, velocity=velocity, store=store,
                         index=index, base_preset=base, level=level, try_model_note=note is None,
                         budget_seconds=budget, latent_count=latent_samples, neighbours=neighbours,
                         workers=workers, seed=seed, metric=metric,
                         progress=ConsoleProgress(err_console, enabled=progress),
                         translate=translator.translate_mel if translator and translator.kind == "unit" else None,
                         translate_audio=translator.translate_wave if translator and translator.kind == "umt"
                         else None)
    if translator is not None:
        result.info["translation"] = str(translator.run_dir)
    written = write_match(result, run, None, out, top=top, target_info=target.to_json())
    if as_json:
        typer.echo(written["files"]["json"].read_text(encoding="utf-8").rstrip())
        return
    summary = written["summary"]
    settings = result.settings
    console.print(f"Best match: {distance_meaning('sc', summary['sc'])}", highlight=False, soft_wrap=True)
    console.print(f"played at MIDI note {settings.note}, velocity {settings.velocity}; wrote "
                  + ", ".join(_shown(v) for v in written["files"].values()), highlight=False, soft_wrap=True)


def _translator(path: Path, run: Any) -> Any:
    """The translation run of ``--translate``, checked against the run that matches.

    Raises:
        PatchflowError: Not a translation run, or its mels are not the ones the run reads.
    """
    from ..errors import PatchflowError
    from ..runtime.translation import load_translator

    translator = load_translator(path)
    features = run.feature_settings
    shape = (features.n_mels, features.frames(run.render_settings.num_samples))
    if translator.features != features or tuple(translator.mel_shape) != shape:
        raise PatchflowError(f"--translate {path} translates mels of {translator.mel_shape[0]} x "
                             f"{translator.mel_shape[1]} ({translator.features}), but {run.run_dir} reads "
                             f"{shape[0]} x {shape[1]} ({features}); train the translation into the run's store")
    return translator


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return f"{value[0]} ... {value[-1]}" if len(value) > 2 else ", ".join(str(v) for v in value)
    return str(value)
