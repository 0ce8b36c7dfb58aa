"""``patchflow dataset``: build a store of rendered presets, describe it, import out-of-domain audio."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from rich.markup import escape

from ..synth import RenderSettings
from .app import console, err_console, friendly_errors
from .render_options import render_options

dataset_app = typer.Typer(help="Build and inspect datasets of rendered presets (zarr stores).",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``dataset`` command group to ``app``."""
    app.add_typer(dataset_app, name="dataset")


@dataset_app.command("build")
@friendly_errors
@render_options
def build(
    paths: Optional[list[Path]] = typer.Argument(None, help="More preset files or folders (same as --presets)."),
    synth: str = typer.Option(..., "--synth", "-s", help="Synth id (see `patchflow synths`)."),
    presets: Optional[list[Path]] = typer.Option(None, "--presets", "-p",
                                                 help="Preset file or folder (repeat for several)."),
    params: str = typer.Option("16", "--params", help="16, 32, 64 (any count), all, or a file of parameter names."),
    out: Path = typer.Option(..., "--out", "-o", help="Store to write (a .zarr folder)."),
    settings: RenderSettings = RenderSettings(),
    limit: Optional[int] = typer.Option(None, help="Keep at most N distinct presets (seeded sample)."),
    workers: Optional[int] = typer.Option(None, help="Render threads (default: one per core)."),
    seed: int = typer.Option(0, help="Seed of --limit, the split and the folds."),
    split: str = typer.Option("random", help="random, or grouped (by source file / folder)."),
    group_by: str = typer.Option("file", help="Grouping of --split grouped: file or folder."),
    folds: Optional[int] = typer.Option(None, help="Also assign K cross-validation folds."),
    base_preset: Optional[str] = typer.Option(None, help="FILE[#INDEX] holding the parameters not learned."),
    backend: str = typer.Option("local", help="local (threads) or ray."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace a store built with other options (only ever a store)."),
    parser: Optional[str] = typer.Option(None, "--parser", help="Read every file with this preset parser (when "
                                         "several recognise the files; see `patchflow plugins`)."),
    random_presets: int = typer.Option(0, "--random-presets", help="Also render N presets with the learned "
                                       "parameters drawn uniformly, in the training split only."),
    perturbed_presets: int = typer.Option(0, "--perturbed-presets", help="Also render N presets near the corpus's "
                                          "voices (a voice with noise on each learned parameter); those of "
                                          "training voices train, the others are left out."),
    perturb_scale: float = typer.Option(0.1, "--perturb-scale", help="Standard deviation of the noise of "
                                        "--perturbed-presets, in normalised units (0-1]."),
    tags: Optional[str] = typer.Option(None, "--tags", help="Tag pairs from the presets' folders: a TOML "
                                       "mapping, or SYNTH:NAME shipped by an adapter (dexed:dx7-folders)."),
    split_like: Optional[Path] = typer.Option(None, "--split-like", help="Follow the grouped split of this store of "
                                              "the same corpus, group by group (groups it lacks go to test)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Render a preset corpus into a store; rerun the same command to resume an interrupted build."""
    from ..errors import PatchflowError
    from ..data.build import BuildOptions, build_store
    from .progress import ConsoleProgress

    sources = list(presets or []) + list(paths or [])
    if not sources:
        raise PatchflowError("give preset files or folders with --presets")
    options = BuildOptions(params=params, settings=settings, limit=limit, seed=seed, split=split, folds=folds,
                           group_by=group_by, base_preset=base_preset, parser=parser,
                           random_presets=random_presets, perturbed_presets=perturbed_presets,
                           perturb_scale=perturb_scale, tags=tags, split_like=split_like)
    store = build_store(synth, sources, out, options, workers=workers, backend=backend,
                        progress=ConsoleProgress(err_console, enabled=progress), overwrite=overwrite)
    counts = store.counts
    added = []
    if counts.get("random_presets"):
        added.append(f"{counts['random_presets']} random")
    if counts.get("perturbed_presets"):
        added.append(f"{counts['perturbed_presets']} perturbed, {counts.get('perturbed_training', 0)} of them "
                     f"around training voices")
    listed = sum(counts.get(k, 0) for k in ("kept", "random_presets", "perturbed_presets"))
    extra = f" beside {counts.get('kept', 0)} corpus voices" if added else ""
    console.print(f"[bold]{escape(str(out))}[/]: {counts.get('usable', 0)} usable presets of {listed} "
                  f"({', '.join(added) + extra + '; ' if added else ''}"
                  f"{counts.get('duplicates', 0)} duplicates removed, {len(store.failures)} failures); "
                  f"{store.meta['timing'].get('presets_per_s')} presets/s. "
                  f"See `patchflow dataset info {escape(str(out))}`.")


@dataset_app.command("info")
@friendly_errors
def info(
    store_path: Path = typer.Argument(..., metavar="STORE", help="A store written by `dataset build`."),
    failures: int = typer.Option(10, help="How many failures to list (all with -1)."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
) -> None:
    """Describe a store: counts, failures, parameters, settings, splits, normalisation, timing."""
    import json

    from ..data.store import open_store

    store = open_store(store_path, allow_incomplete=True)
    data = store.info()
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    _print_info(data, failures)


def _failure_reason(failure: dict) -> str:
    """A failure's reason without the file name it starts with (the source column names it)."""
    return failure["reason"].removeprefix(f"{failure['source']}: ")


def _failure_kind(failure: dict) -> tuple[str, str]:
    """What failures of one kind share: the stage, and the reason without the numbers that differ from one preset
    to the next (``silent (peak 3.1e-05 < 0.0001)`` counts as ``silent``)."""
    reason = _failure_reason(failure)
    if failure["stage"] == "render":
        reason = re.sub(r"\s*\([^()]*\d[^()]*\)$", "", reason)
    return failure["stage"], reason


def _print_info(data: dict, max_failures: int) -> None:
    from collections import Counter

    from rich.table import Table
    from rich.text import Text

    console.print(f"[bold]{escape(data['path'])}[/] - {data['kind']} store of synth [bold]{data['synth']}[/], "
                  f"status {data['status']}: {data['rows']} rows, {data['usable']} usable")
    counts = data["counts"]
    table = Table(title="Counts", show_header=False)
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), ", ".join(f"{k} {v}" for k, v in value.items())
                      if isinstance(value, dict) else str(value))
    console.print(table)
    failures = data["failures"]
    if failures:
        reasons = Counter(_failure_kind(f) for f in failures)
        by_reason = Table(title=f"Failures ({len(failures)}), by reason", show_header=True)
        by_reason.add_column("count", justify="right", no_wrap=True)
        by_reason.add_column("stage", no_wrap=True)
        by_reason.add_column("reason", overflow="fold")
        for (stage, reason), n in reasons.most_common(10):
            by_reason.add_row(str(n), stage, Text(reason))
        if len(reasons) > 10:
            by_reason.add_row("", "", f"... {len(reasons) - 10} more reasons")
        console.print(by_reason)
        shown = failures if max_failures < 0 else failures[:max_failures]
        listed = Table(title=f"Failures, {'all' if len(shown) == len(failures) else f'first {len(shown)}'}")
        for column in ("stage", "source", "reason"):
            listed.add_column(column, overflow="fold", no_wrap=column == "stage")
        for f in shown:
            source = f["source"] + (f" ({f['name']})" if f.get("name") else "")
            listed.add_row(f["stage"], Text(source), Text(_failure_reason(f)))
        console.print(listed)
        if len(shown) < len(failures):
            console.print(f"  ... {len(failures) - len(shown)} more (--failures -1 lists all)")
    params = Table(title=f"Learned parameters ({len(data['parameters'])})")
    for column in ("name", "kind", "range / classes"):
        params.add_column(column)
    for p in data["parameters"]:
        params.add_row(p["name"], p["kind"], f"{p['classes']} classes" if p["classes"] else
                       f"{p['range'][0]:g} - {p['range'][1]:g}")
    console.print(params)
    selection = data.get("selection") or {}
    if selection:
        console.print(f"Chosen by: {selection.get('rule', '')}")
        if selection.get("inaudible"):
            console.print(f"Inaudible over the base preset: {', '.join(selection['inaudible'])}")
    base = data["base_preset"]
    console.print(f"Base preset: {base['name']} ({base['source']}), {base['chosen_by']}", markup=False)
    render = data["render_settings"]
    console.print(f"Render: note {render['note']}, velocity {render['velocity']}, held {render['note_seconds']} s "
                  f"of {render['total_seconds']} s at {render['sample_rate']} Hz")
    feat = data["features"]
    console.print(f"Features: {feat['n_mels']} mel bins {feat['fmin']:g}-{feat['fmax']:g} Hz, FFT {feat['n_fft']}, "
                  f"hop {feat['hop']}, log amplitude (dB)")
    split = data["split"]
    sizes = split.get("sizes", {})
    console.print(f"Split: {split.get('method')} (seed {split.get('seed')}"
                  f"{', by ' + split['group_by'] if split.get('group_by') else ''}"
                  f"{', %d folds' % split['folds'] if split.get('folds') else ''}): "
                  + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    norm = data.get("norm") or {}
    if norm:
        console.print(f"Normalisation: mean {norm['mel_mean']:.3f} dB, std {norm['mel_std']:.3f} dB "
                      f"({norm.get('computed_on', norm.get('copied_from', ''))})")
    timing = data.get("timing") or {}
    if timing:
        console.print(f"Timing: {timing.get('total_s')} s in {len(timing.get('runs', []))} run(s), rendering "
                      f"{timing.get('render_s')} s = {timing.get('presets_per_s')} presets/s")
        staged = [r for r in timing.get("runs", []) if r.get("stages") and r.get("rendered")]
        if staged:
            rows = sum(r["rendered"] for r in staged)

            def per_preset(key: str) -> float:
                return 1e3 * sum(r["stages"].get(key, 0.0) for r in staged) / rows

            console.print(f"  per preset: render {per_preset('render_cpu_s'):.2f} ms CPU, features "
                          f"{per_preset('features_cpu_s'):.2f} ms CPU, writers busy {per_preset('write_busy_s'):.2f} ms")


@dataset_app.command("import-audio")
@friendly_errors
def import_audio_command(
    folder: Path = typer.Argument(..., help="Folder of WAV/FLAC/OGG/MP3 files (or one file)."),
    like: Path = typer.Option(..., "--like", help="Store whose features and normalisation to use."),
    out: Path = typer.Option(..., "--out", "-o", help="Store to write."),
    gain: str = typer.Option("peak", help="peak (match the reference's level) or none."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store (only ever a store)."),
) -> None:
    """Turn any folder of audio files into a store comparable with LIKE (out-of-domain evaluation)."""
    from ..data.importing import import_audio

    store = import_audio(folder, like, out, gain=gain, overwrite=overwrite)
    console.print(f"[bold]{escape(str(out))}[/]: {store.counts['usable']} clips imported, "
                  f"{store.counts['failed']} failed")
    for failure in store.failures:
        console.print(f"  {failure['reason']}", highlight=False, markup=False)


@dataset_app.command("export-audio")
@friendly_errors
def export_audio_command(
    store_path: Path = typer.Argument(..., help="A store written by `patchflow dataset build`."),
    out: Path = typer.Option(..., "--out", "-o", help="WAV file to write."),
    split: str = typer.Option("test", help="Split the item is taken from: train, valid or test."),
    index: int = typer.Option(0, "--index", "-i", help="Position of the item inside the split."),
) -> None:
    """Write the rendered audio of one item of a store to a WAV file (e.g. a test sound to match)."""
    from ..audio import write_wav
    from ..data.store import open_store
    from ..errors import PatchflowError

    store = open_store(store_path)
    rows = store.split_indices(split)
    if not 0 <= index < len(rows):
        raise PatchflowError(f"{store_path}: the {split} split has {len(rows)} items; --index {index} is outside it")
    row = int(rows[index])
    gain = write_wav(out, store.audio(row), store.render_settings.sample_rate, normalise=True)
    console.print(f"{store.names[row]!r} ({store.sources[row]}, {split} item {index}) -> {out} "
                  f"(scaled by {gain:.3f})", highlight=False, markup=False)
