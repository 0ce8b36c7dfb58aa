"""``patchflow render``: play a preset file through its synth into a WAV file."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from ..synth import RenderSettings
from .app import console, friendly_errors
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
        from ..audio import write_wav
        from ..errors import PatchflowError
        from ..plugins import get_synth, parse_preset_file

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
        audio = engine.render(preset, settings)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            gain = write_wav(out, audio, settings.sample_rate, normalise=normalise)
        peak = float(abs(audio).max()) if audio.size else 0.0
        console.print(f"Rendered [bold]{preset.name}[/] ({preset.source}) -> {out} "
                      f"({len(audio) / settings.sample_rate:.2f} s, peak {peak:.3f}"
                      + (f", scaled by {gain:.3f} to avoid clipping)" if gain != 1.0 else ")"))


def _ranges(values: list[int]) -> str:
    values = sorted(values)
    if not values:
        return "none"
    return f"{values[0]}-{values[-1]}" if values == list(range(values[0], values[-1] + 1)) else \
        ", ".join(map(str, values))
