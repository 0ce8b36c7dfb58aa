"""The options saying how a note is played, defined once for every command that renders.

A command declares one parameter ``settings: RenderSettings = RenderSettings()`` and is decorated with
:func:`render_options`; its help then lists ``--note``, ``--velocity``, ``--note-seconds``, ``--total-seconds`` and
``--sample-rate`` at that place, with the defaults of :class:`~patchflow.RenderSettings`, and the command receives
the :class:`~patchflow.RenderSettings` they make::

    @app.command()
    @friendly_errors
    @render_options
    def render(preset_file: Path, settings: RenderSettings = RenderSettings()) -> None:
        ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from functools import wraps
from typing import Any, TypeVar

import typer

from ..errors import PatchflowError
from ..synth import RenderSettings

F = TypeVar("F", bound=Callable[..., Any])

#: The help of each option, by :class:`~patchflow.RenderSettings` field; names and defaults come from the fields.
HELP: dict[str, str] = {
    "note": "MIDI note.",
    "velocity": "MIDI velocity.",
    "note_seconds": "Seconds the key is held.",
    "total_seconds": "Seconds recorded.",
    "sample_rate": "Sample rate in Hz.",
}
#: The command parameter the options replace.
PARAMETER = "settings"


def render_option_parameters() -> list[inspect.Parameter]:
    """One typer option per :class:`~patchflow.RenderSettings` field, in field order, with its default."""
    defaults = RenderSettings()
    options = []
    for field in fields(RenderSettings):
        default = getattr(defaults, field.name)
        options.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, annotation=type(default),
                                         default=typer.Option(default, help=HELP[field.name])))
    return options


def render_settings(**values: Any) -> RenderSettings:
    """The settings the options give.

    Raises:
        PatchflowError: The values do not make valid settings (a note outside 0-127, a note held longer than the
            recording, ...).
    """
    try:
        return RenderSettings(**values)
    except ValueError as exc:
        raise PatchflowError(f"bad render settings: {exc}") from None


def render_options(command: F) -> F:
    """Replace the ``settings`` parameter of a typer command with the render options (see the module docstring)."""
    signature = inspect.signature(command, eval_str=True)
    if PARAMETER not in signature.parameters:
        raise TypeError(f"{command.__name__} needs a parameter {PARAMETER!r} for the render options")
    options = render_option_parameters()
    names = [option.name for option in options]
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name == PARAMETER:
            parameters.extend(options)
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs[PARAMETER] = render_settings(**{name: kwargs.pop(name) for name in names})
        return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters if p.annotation is not p.empty}
    if signature.return_annotation is not signature.empty:
        wrapper.__annotations__["return"] = signature.return_annotation
    return wrapper  # type: ignore[return-value]
