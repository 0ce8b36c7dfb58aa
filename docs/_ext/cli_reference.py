"""A ``cli-reference`` directive: every ``patchflow`` command, read from the installed CLI, as plain pages.

The page lists exactly the commands installed when the docs are built, including those that plugins add through
the ``register_commands`` hook. Each command gets a section: its usage line, its help text, its arguments and
options as a definition list (names, type, help, default, whether required: the same records ``--help`` prints),
and for a group the list of its commands, linked to their sections. Nothing is drawn with box characters, so the
page reads the same at any width.

Usage in MyST::

    ```{cli-reference}
    ```
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

#: ASCII punctuation that means something to MyST (CommonMark, dollar math, attributes, substitutions).
_SPECIAL = re.compile(r"([\\*_\[\]<>{}$#|~!&:^=+-])")


#: An option named in help text (``--data``, ``--no-progress``), shown as code: the typography of the page would
#: otherwise print its two hyphens as a dash.
_OPTION = re.compile(r"(?<![\w-])(--[a-zA-Z0-9][\w-]*)")


def _plain(text: str) -> str:
    """Text outside code spans: options as code, MyST's special characters escaped."""
    return "`".join(part if k % 2 else _SPECIAL.sub(r"\\\1", part) for k, part in enumerate(_OPTION.split(text)))


def _text(text: str) -> str:
    """``text`` as MyST inline markup that reads literally, keeping its `code spans` as code."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: nothing is code
        return _plain(text.replace("`", "'"))
    return "".join(f"`{part}`" if k % 2 else _plain(part) for k, part in enumerate(parts))


def _code(text: str) -> str:
    """``text`` as one inline code span, whatever backticks it holds."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _paragraphs(text: str) -> list[str]:
    """Help text as MyST paragraphs (click's ``\\b`` no-rewrap markers dropped)."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", (text or "").strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip() and line.strip() != "\b"]
        if lines:
            out += [_text(" ".join(lines)), ""]
    return out


#: Level of each command's heading: the sections sit under the page's "Commands" heading (a level 2 one).
HEADING_LEVEL = 3


def _slug(path: tuple[str, ...]) -> str:
    """The anchor MyST gives the heading ``patchflow <path>``."""
    return "-".join(("patchflow", *path)).lower()


def command_lines(command: Any, ctx: Any, path: tuple[str, ...]) -> list[str]:
    """MyST lines for one command: heading, usage, help, arguments, options and (for a group) its commands."""
    title = " ".join(("patchflow", *path))
    lines = [f"{'#' * HEADING_LEVEL} {title}", "", "```text", f"Usage: {ctx.command_path} {' '.join(command.collect_usage_pieces(ctx))}",
             "```", ""]
    lines += _paragraphs(command.help or "")
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    for label, kind in (("Arguments", "argument"), ("Options", "option")):
        records = [p.get_help_record(ctx) for p in params if p.param_type_name == kind]
        records = [r for r in records if r]
        if not records:
            continue
        lines += [f"**{label}**", ""]
        for names, help_text in records:
            lines += [_code(names), f": {_text(help_text) if help_text else '(no description)'}", ""]
    visible = _subcommands(command, ctx)
    if visible:
        lines += ["**Commands**", ""]
        for name, sub in visible:
            summary = " ".join((sub.short_help or re.split(r"\n\s*\n", (sub.help or "").strip())[0]).split())
            lines.append(f"- [`{name}`](#{_slug((*path, name))})" + (f": {_text(summary)}" if summary else ""))
        lines.append("")
    return lines


def _context(command: Any, name: str, parent: Any = None) -> Any:
    """The context ``command`` would run in (with its ``context_settings``: help option names, widths...)."""
    return command.context_class(command, info_name=name, parent=parent, **getattr(command, "context_settings", {}))


def _walk(command: Any, ctx: Any, path: tuple[str, ...] = ()) -> list[tuple[Any, Any, tuple[str, ...]]]:
    """(command, context, path) of ``command`` and every visible command under it, groups recursed."""
    found = [(command, ctx, path)]
    for name, sub in _subcommands(command, ctx):
        found.extend(_walk(sub, _context(sub, name, ctx), (*path, name)))
    return found


def _subcommands(command: Any, ctx: Any) -> list[tuple[str, Any]]:
    """The visible commands of a group, in the order its ``--help`` lists them (none for a plain command)."""
    if not hasattr(command, "list_commands"):
        return []
    subs = [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]
    return [(name, sub) for name, sub in subs if sub is not None and not getattr(sub, "hidden", False)]


def reference_lines() -> list[str]:
    """MyST lines of the whole reference: ``patchflow`` itself, then every command."""
    import typer

    from patchflow.cli import app

    root = typer.main.get_command(app)  # the click command typer builds (typer ships its own copy of click)
    lines: list[str] = []
    for command, ctx, path in _walk(root, _context(root, "patchflow")):
        lines += command_lines(command, ctx, path)
    return lines


class CliReference(SphinxDirective):
    """Render one section per command."""

    def run(self) -> list[nodes.Node]:
        self.env.note_reread()  # the commands come from the installed code, not from this page: read it every build
        container = nodes.container()
        self.state.nested_parse(StringList(reference_lines(),
                                           source=self.env.doc2path(self.env.current_document.docname)),
                                self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict:
    """Register the directive."""
    app.add_directive("cli-reference", CliReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
