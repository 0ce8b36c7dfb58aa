"""``patchflow render``: play a preset file through its synth into a WAV file."""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path

import typer
from rich.markup import escape

from ..synth import RenderSettings
from .app import console, err_console, friendly_errors
from .render_options import render_options


def register(app: typer.Typer) -> None:
    """Add the ``render`` command to ``app``."""

    @app.command()
    @friendly_errors
    @render_options
    def render(
        synth: str = typer.Argument(..., help="Synth id (see `patchflow synths`)."),
        preset_file: Path = typer.Argument(..., help="A preset file the synth's parsers can read."),
        index: int = typer.Option(0, "--index", "-i", help="Which preset of a multi-preset file (bank)."),
        out: Path = typer.Option(..., "--out", "-o", help="WAV file to write."),
        settings: RenderSettings = RenderSettings(),
        normalise: bool = typer.Option(False, help="Scale the peak to just below full scale."),
    ) -> None:
        """Render one preset of PRESET_FILE to a WAV file."""
        import numpy as np

        from ..data.render import SILENCE_PEAK
        from ..errors import PatchflowError
        from ..plugins import get_synth, parse_preset_file

        check_wav_out(out)
        engine = get_synth(synth)
        result = parse_preset_file(preset_file, synth)
        if not result.presets:
            raise PatchflowError(f"{preset_file}: no readable preset")
        positions = [p.source.index if p.source and p.source.index is not None else i
                     for i, p in enumerate(result.presets)]
        if index not in positions:
            raise PatchflowError(f"{preset_file}: no readable preset at index {index} "
                                 f"(readable: {_ranges(positions)})")
        preset = result.presets[positions.index(index)]
        audio = np.asarray(engine.render(preset, settings))
        if not np.all(np.isfinite(audio)):
            raise PatchflowError(f"{preset_file}#{index}: {synth} rendered NaN or infinite samples; nothing written")
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        silent = peak < SILENCE_PEAK
        gain = write_wav_whole(out, audio, settings.sample_rate, normalise=normalise and not silent)
        console.print(f"Rendered [bold]{escape(preset.name)}[/] ({escape(str(preset.source))}) -> {escape(str(out))} "
                      f"({len(audio) / settings.sample_rate:.2f} s, peak {peak:.3g}"
                      + (f", scaled by {gain:.3f} to avoid clipping)" if gain != 1.0 and not normalise else
                         f", scaled by {gain:.3g})" if gain != 1.0 else ")"),
                      highlight=False, emoji=False)
        if silent:
            err_console.print(f"[yellow]warning:[/] the note is silent (peak {peak:.2e} < {SILENCE_PEAK:g})"
                              + ("; written as it is, not normalised" if normalise else ""), highlight=False)


def check_wav_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot be the WAV file to write, before anything is rendered.

    Raises:
        PatchflowError: ``out`` is a folder, or does not end in ``.wav``.
    """
    from ..errors import PatchflowError

    if out.is_dir():
        raise PatchflowError(f"--out {out} is a folder; name the WAV file to write (e.g. --out {out / 'note.wav'})")
    if out.suffix.lower() != ".wav":
        raise PatchflowError(f"--out {out}: the file written is a WAV file; give it the suffix .wav "
                             f"(e.g. --out {out.with_suffix('.wav')})")


def write_wav_whole(out: Path, audio, sample_rate: int, *, normalise: bool = False) -> float:
    """:func:`patchflow.audio.write_wav` through a temporary file beside ``out``: the file appears whole or not at
    all (a read-only folder or a full disk leave nothing behind, and an existing ``out`` as it was).

    Returns:
        The gain applied (see :func:`~patchflow.audio.write_wav`).

    Raises:
        PatchflowError: The file cannot be written; one line saying why.
    """
    from ..audio import write_wav
    from ..errors import PatchflowError

    tmp = out.with_name(f".{out.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp.wav")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the OS's own reason if refused
        with warnings.catch_warnings(record=True):  # the command says itself when the file was scaled
            warnings.simplefilter("always")
            gain = write_wav(tmp, audio, sample_rate, normalise=normalise)
        os.replace(tmp, out)
    except (OSError, RuntimeError) as exc:  # soundfile's errors are RuntimeErrors
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise PatchflowError(f"cannot write {out}: {_reason(exc, tmp, audio)}") from None
    return gain


def _reason(exc: BaseException, tmp: Path, audio) -> str:
    """One line saying why a write failed (libsndfile says only "System error." when the disk is full)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = [line.strip() for line in str(exc).replace(f"'{tmp}'", "").splitlines() if line.strip()]
    text = lines[0].removeprefix("Error opening : ") if lines else type(exc).__name__
    try:
        stat = os.statvfs(tmp.parent)
        if stat.f_bavail * stat.f_frsize < 2 * getattr(audio, "size", 0) + 4096:  # 16-bit samples, a header
            return f"{os.strerror(28)} ({text})"  # ENOSPC
    except (OSError, AttributeError):
        pass
    return text


def _ranges(values: list[int]) -> str:
    values = sorted(values)
    if not values:
        return "none"
    return f"{values[0]}-{values[-1]}" if values == list(range(values[0], values[-1] + 1)) else \
        ", ".join(map(str, values))
