"""A ``cli-reference`` directive: the ``--help`` of every ``patchflow`` command, read from the installed CLI.

The page therefore lists exactly the commands installed when the docs are built, including those that plugins
add through the ``register_commands`` hook.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths of every visible command under ``group`` (a click or typer command, groups recursed)."""
    found = [path] if path else []
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if not getattr(command, "hidden", False):
            found.extend(_commands(command, path + (name,)))
    return found


class CliReference(SphinxDirective):
    """Render one section per command with its help text."""

    def run(self) -> list[nodes.Node]:
        import typer
        from typer.testing import CliRunner

        from patchflow.cli import app

        root = typer.main.get_command(app)
        runner = CliRunner()
        lines: list[str] = []
        for path in _commands(root):
            result = runner.invoke(app, [*path, "--help"], prog_name="patchflow", terminal_width=100,
                                   env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
            lines += [f"## patchflow {' '.join(path)}", "", "```text", result.output.rstrip(), "```", ""]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.env.doc2path(self.env.current_document.docname)),
                                self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict:
    """Register the directive."""
    app.add_directive("cli-reference", CliReference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
