"""The command line's progress view without bars (``--no-progress``): one line per outermost task."""

from __future__ import annotations

import io

from rich.console import Console

from patchflow.cli.progress import ConsoleProgress


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, force_terminal=False), buffer


def test_without_bars_each_outermost_task_ends_with_one_line() -> None:
    console, buffer = _console()
    progress = ConsoleProgress(console, enabled=False)
    progress.message("reading the store")
    with progress.task("searching cnn (test)", 3, "items") as task:
        for _ in range(3):
            with progress.task("one item", 10, "renders") as inner:
                inner.advance(10)
            task.advance()
    with progress.task("scoring", None, "renders") as task:
        task.set(7)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "reading the store"
    assert lines[1].startswith("searching cnn (test): 3/3 items in ") and lines[1].endswith(" s")
    assert lines[2].startswith("scoring: 7 renders in ")
    assert len(lines) == 3  # the inner tasks say nothing


def test_a_task_left_by_an_error_still_says_how_far_it_got() -> None:
    console, buffer = _console()
    progress = ConsoleProgress(console, enabled=False)
    try:
        with progress.task("rendering", 5, "presets") as task:
            task.advance(2)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert buffer.getvalue().startswith("rendering: 2/5 presets in ")


def test_with_bars_nothing_is_printed_as_a_line() -> None:
    console, buffer = _console()
    progress = ConsoleProgress(console, enabled=True, transient=True)
    with progress.task("searching", 2, "items") as task:
        task.advance(2)
    assert "searching: 2/2" not in buffer.getvalue()
