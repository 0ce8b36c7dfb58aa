"""Progress of long jobs: library code reports it, the command line draws it.

A long job (a dataset build, a training, an evaluation, a match) takes a :class:`Progress` and tells it what
happens: one-line messages and tasks that advance. :class:`Progress` itself ignores everything, which is what a
library call gets by default; the command line passes one that draws rich progress bars on stderr
(:mod:`patchflow.cli.progress`). A script can subclass it to log, or to feed a GUI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Task:
    """One advancing piece of work (returned by :meth:`Progress.task`); this base class ignores everything."""

    def advance(self, n: int = 1, info: str | None = None) -> None:
        """``n`` more units are done; ``info`` is a short status (a loss, a rate) shown beside the bar."""

    def set(self, completed: int, info: str | None = None) -> None:
        """``completed`` units are done in all."""


class Progress:
    """Receives the progress of a long job. The base class is quiet: it ignores every message and task."""

    def message(self, text: str) -> None:
        """A line worth telling the user (what was read, what is assumed, what was skipped)."""

    def start(self, label: str, total: int | None, unit: str = "items", completed: int = 0) -> Task:
        """Begin a task of ``total`` units (``None``: unknown); end it with :meth:`stop`."""
        return Task()

    def stop(self, task: Task) -> None:
        """End a task begun with :meth:`start` (its bar is removed or left finished)."""

    @contextmanager
    def task(self, label: str, total: int | None, unit: str = "items", completed: int = 0) -> Iterator[Task]:
        """:meth:`start` and :meth:`stop` around a block."""
        task = self.start(label, total, unit, completed)
        try:
            yield task
        finally:
            self.stop(task)


#: The quiet default of every library function.
QUIET = Progress()


def or_quiet(progress: Progress | None) -> Progress:
    """``progress``, or :data:`QUIET` when none was given."""
    return QUIET if progress is None else progress
