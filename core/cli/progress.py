"""The command line's view of :class:`patchflow.progress.Progress`: rich bars with rate and time left, on stderr."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress as RichBars,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..progress import Progress, Task


class _BarTask(Task):
    def __init__(self, owner: "ConsoleProgress", task_id: TaskID, unit: str, completed: int) -> None:
        self.owner, self.id, self.unit = owner, task_id, unit
        self.completed, self.started, self.base = completed, time.perf_counter(), completed

    def _rate(self) -> str:
        elapsed = time.perf_counter() - self.started
        done = self.completed - self.base
        return f"{done / elapsed:.0f} {self.unit}/s" if elapsed > 0 and done > 0 else ""

    def advance(self, n: int = 1, info: str | None = None) -> None:
        self.set(self.completed + n, info)

    def set(self, completed: int, info: str | None = None) -> None:
        self.completed = completed
        fields: dict[str, Any] = {"rate": self._rate()}
        if info is not None:
            fields["info"] = info
        self.owner.bars.update(self.id, completed=completed, **fields)


class _LineTask(Task):
    """An outermost task of a console without bars: counted, and told in one line when it ends."""

    def __init__(self, label: str, total: int | None, unit: str, completed: int) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.completed, self.started = completed, time.perf_counter()

    def advance(self, n: int = 1, info: str | None = None) -> None:
        self.completed += n

    def set(self, completed: int, info: str | None = None) -> None:
        self.completed = completed

    def summary(self) -> str:
        done = f"{self.completed:,}" if self.total is None else f"{self.completed:,}/{self.total:,}"
        return f"{self.label}: {done} {self.unit} in {time.perf_counter() - self.started:.1f} s"


class ConsoleProgress(Progress):
    """Draws every task of a job as a bar (label, bar, done/total, %, rate, elapsed, remaining) and prints its
    messages, all on ``console`` (stderr by default).

    Args:
        console: Where to draw.
        enabled: ``False`` draws no bars (``--no-progress``): it prints the messages, and one line when each
            outermost task ends (its label, units done and seconds), so a log shows where a long job spent its time.
        transient: Remove finished bars (default: leave the outermost, so a finished build shows its rate; bars
            of tasks inside another task are removed when they end).
    """

    def __init__(self, console: Console | None = None, *, enabled: bool = True, transient: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.bars = RichBars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TaskProgressColumn(), TextColumn("[cyan]{task.fields[rate]}"), TimeElapsedColumn(),
                             TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=self.console,
                             transient=transient, disable=not enabled)
        self._open = 0

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def start(self, label: str, total: int | None, unit: str = "items", completed: int = 0) -> Task:
        if not self.enabled:
            self._open += 1
            return _LineTask(label, total, unit, completed) if self._open == 1 else Task()
        if self._open == 0:
            self.bars.start()
        self._open += 1
        task_id = self.bars.add_task(label, total=total, completed=completed, rate="", info="")
        return _BarTask(self, task_id, unit, completed)

    def stop(self, task: Task) -> None:
        if not self.enabled:
            self._open -= 1
            if isinstance(task, _LineTask):
                self.message(task.summary())
            return
        if not isinstance(task, _BarTask):
            return
        if self._open > 1:  # a task inside another (an epoch inside a training): its bar goes when it ends
            self.bars.remove_task(task.id)
        self._open -= 1
        if self._open == 0:
            self.bars.stop()
