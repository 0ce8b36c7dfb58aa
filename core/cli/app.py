"""The root Typer application, the conventions every command's help follows, and shared console helpers."""

from __future__ import annotations

import errno
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar, get_args

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ..errors import PatchflowError

#: The order of ``patchflow --help``: the data path from a synth to a preset, then the tools around it. Commands
#: not listed (a plugin's) follow in the order they were added.
COMMAND_ORDER = ("synths", "presets", "render", "dataset", "train", "evaluate", "match", "translate", "macro",
                 "explore", "interpolate", "export", "plugins", "models", "new-adapter")

_DOUBLE_BACKQUOTES = re.compile(r"``([^`]+)``")


def plain_help(text: str | None) -> str | None:
    """Help text as plain text: reStructuredText's double backquotes become single ones and the lines of a
    paragraph are joined (a docstring's line breaks are not the terminal's). Brackets stay as they are: ``--help``
    shows them literally (see :func:`_literal_help`)."""
    if not text:
        return text
    text = _DOUBLE_BACKQUOTES.sub(r"`\1`", text)
    paragraphs = [" ".join(line.strip() for line in block.splitlines()) for block in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


@contextmanager
def _literal_help(items: list[Any]) -> Iterator[None]:
    """While ``--help`` is drawn, the help texts of ``items`` with rich markup escaped: typer reads help as rich
    markup, which would swallow ``FILE[#INDEX]``'s ``[#INDEX]``; patchflow's help is plain text."""
    saved = [(item, item.help, getattr(item, "short_help", None)) for item in items]
    for item, help_text, short in saved:
        item.help = escape(help_text) if help_text else help_text
        if short:
            item.short_help = escape(short)
    try:
        yield
    finally:
        for item, help_text, short in saved:
            item.help = help_text
            if short:
                item.short_help = short


def _tidy_help(command: TyperCommand | TyperGroup) -> None:
    command.help = plain_help(command.help)
    command.short_help = plain_help(command.short_help)
    for param in command.params:
        param.help = plain_help(getattr(param, "help", None))


def _value_label(param: TyperOption) -> str | None:
    """``<path>`` rather than ``<list[Path]>`` for a repeatable option (the help says it repeats)."""
    descriptor = getattr(param, "type_descriptor", None)
    args = get_args(getattr(descriptor, "annotation", None))
    if getattr(param, "multiple", False) and len(args) == 1 and isinstance(args[0], type):
        return f"<{args[0].__name__.lower()}>"
    return None


def _tidy_params(params: list[Any]) -> None:
    """Flags show no value type (``--json``, not ``--json <bool>``); arguments are named in capitals."""
    for param in params:
        if isinstance(param, TyperOption):
            if param.is_flag and param.metavar is None:
                param.metavar = ""
            elif param.metavar is None:
                param.metavar = _value_label(param)
        elif isinstance(param, TyperArgument) and param.metavar is None:
            param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")


def _usage_pieces(command: TyperCommand | TyperGroup, ctx: Any) -> list[str]:
    """The usage line as click writes it: ``[OPTIONS] RUN_DIR SOUND``, ``[PATHS]...``."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            name = (param.metavar or param.name.upper()).removesuffix("...")
            repeat = "..." if param.nargs != 1 else ""
            pieces.append(f"{name}{repeat}" if param.required else f"[{name}]{repeat}")
        else:
            pieces.extend(param.get_usage_pieces(ctx))
    return pieces


class Command(TyperCommand):
    """A ``patchflow`` command: plain help text (see :func:`plain_help`), flags without a value type, usage line
    and argument names in capitals. Every command gets this class, plugins' included (see
    :func:`apply_conventions`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy_help(self)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _tidy_params(params)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _literal_help([self, *self.get_params(ctx)]):
            super().format_help(ctx, formatter)


class Group(TyperGroup):
    """A ``patchflow`` command group: the conventions of :class:`Command`, sub-commands in :data:`COMMAND_ORDER`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _tidy_help(self)

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _tidy_params(params)  # the completion options are added after the group is made
        return params

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _literal_help([self, *self.get_params(ctx), *self.commands.values()]):
            super().format_help(ctx, formatter)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*_usage_pieces(self, ctx), self.subcommand_metavar]

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(names, key=lambda name: rank.get(name, len(COMMAND_ORDER)))


def apply_conventions(cli: typer.Typer) -> None:
    """Give every command and group of ``cli`` (recursively, plugins' included) the classes :class:`Command` and
    :class:`Group`, unless it chose a class of its own."""
    for info in cli.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = Command
    for group in cli.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        if getattr(group.cls, "value", group.cls) in (None, TyperGroup) and \
                getattr(sub.info.cls, "value", sub.info.cls) in (None, TyperGroup):
            sub.info.cls = Group
        apply_conventions(sub)


def _print_version(value: bool) -> None:
    """``--version``: patchflow's version, then each plugin's distribution and version (what a bug report needs)."""
    if not value:
        return
    from .. import __version__
    from ..plugin_loading import installed_plugins

    typer.echo(f"patchflow {__version__}")
    for plugin in installed_plugins():
        typer.echo(f"  {plugin.name}: {plugin.distribution or plugin.module} {plugin.version}".rstrip())
    raise typer.Exit()


app = typer.Typer(
    name="patchflow",
    cls=Group,
    help="Learn how a synthesizer maps its knobs to its sound: datasets, models, sound matching, macro-controls.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Show the version of patchflow and of each plugin, then exit."),
) -> None:
    """The root of the command line (its help is the ``help`` above): only ``--version`` lives here."""


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
        from rich.text import Text

        # the problem's own text is shown as it is: no markup, no emoji codes (``vst3:x:`` is not an emoji)
        line = Text("warning: ", style="yellow")
        line.append(f"skipped plugin {problem.plugin!r} ({problem.hook} failed: {problem.error}); "
                    f"`patchflow plugins` lists plugin problems, {ENV_TRACE}=1 shows the traceback")
        err_console.print(line, highlight=False, soft_wrap=True, emoji=False)


#: errno values of a place that cannot be written: read-only, full, over quota, forbidden.
_WRITE_ERRORS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM}


def friendly_errors(func: F) -> F:
    """Turn patchflow's own errors into a one-line message and exit code 1 instead of a traceback, and warn about
    plugins left out because one of their hooks failed."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PatchflowError as exc:
            warn_skipped_plugins()  # first: a skipped plugin is often why the command failed
            from rich.text import Text

            err_console.print(Text("error: ", style="bold red").append(str(exc)), highlight=False, soft_wrap=True,
                              emoji=False)
            raise typer.Exit(1) from None
        except OSError as exc:
            if exc.errno not in _WRITE_ERRORS:
                raise
            # a read-only, full or forbidden place to write: say where and why in one line
            from rich.text import Text

            where = f"{exc.filename}: " if exc.filename else ""
            err_console.print(Text("error: ", style="bold red").append(
                f"{where}cannot write here ({exc.strerror}); choose another --out or free some space"),
                highlight=False, soft_wrap=True, emoji=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]")
            sys.exit(130)
        finally:
            warn_skipped_plugins()

    return wrapper  # type: ignore[return-value]
