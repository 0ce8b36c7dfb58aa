"""The root Typer application and shared console helpers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from ..errors import PatchflowError

app = typer.Typer(
    name="patchflow",
    help="Learn how a synthesizer maps its knobs to its sound: datasets, models, sound matching, macro-controls.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


#: Plugin problems already shown in this process (by identity), so each is shown once.
_shown_problems: list[Any] = []


def mark_plugin_problems_shown(problems: list[Any]) -> None:
    """Note that a command displayed these plugin problems itself (``patchflow plugins``)."""
    _shown_problems.extend(problems)


def warn_skipped_plugins() -> None:
    """Print one warning line per plugin whose hook failed and was left out (load errors are left to
    ``patchflow plugins``); each problem is printed once per process."""
    from ..plugin_loading import ENV_TRACE, LOAD, plugin_problems

    for problem in plugin_problems():
        if problem.hook == LOAD or any(problem is shown for shown in _shown_problems):
            continue
        _shown_problems.append(problem)
        err_console.print(f"[yellow]warning:[/] skipped plugin {problem.plugin!r} ({problem.hook} failed: "
                          f"{problem.error}); `patchflow plugins` lists plugin problems, {ENV_TRACE}=1 shows the "
                          f"traceback", highlight=False, soft_wrap=True)


def friendly_errors(func: F) -> F:
    """Turn patchflow's own errors into a one-line message and exit code 1 instead of a traceback, and warn about
    plugins left out because one of their hooks failed."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PatchflowError as exc:
            warn_skipped_plugins()  # first: a skipped plugin is often why the command failed
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            sys.exit(130)
        finally:
            warn_skipped_plugins()

    return wrapper  # type: ignore[return-value]
