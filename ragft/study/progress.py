"""Progress the study shows: a live bar in a terminal, plain lines when redirected.

rich's ``Progress`` on a console that is not a terminal (CI, ``| tee log``) prints nothing until
it stops, so a 14-minute indexing or a long variant looked hung. Off a terminal each task
prints a line when it starts, every ~10% or 30 s, and when it completes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

PLAIN_STEP = 0.10  # print a plain line every 10% ...
PLAIN_SECONDS = 30.0  # ... or every 30 s, whichever comes first


class StudyProgress:
    """``with StudyProgress(console) as progress: task = progress.add(name, total); task.update(done)``."""

    def __init__(self, console: Console):
        self.console = console
        self.live = console.is_terminal
        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=console, transient=False) if self.live else None

    def __enter__(self) -> StudyProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def add(self, description: str, total: int, completed: int = 0) -> Task:
        if self._bar is not None:
            return Task(description, total, completed, self._bar.add_task(description, total=total,
                                                                          completed=completed), self._bar, None)
        return Task(description, total, completed, None, None, self.console)

    def stages(self) -> Callable[[str, int, int], None]:
        """An ``on_progress(stage, done, total)`` callback (indexing): one task per stage."""
        tasks: dict[str, Task] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = self.add(stage, total)
            tasks[stage].update(done)

        return report


class Task:
    """One line of progress; ``update`` takes the absolute count, so callers may report in any step."""

    def __init__(self, description: str, total: int, completed: int, task_id, bar: Progress | None,
                 console: Console | None):
        self.description, self.total, self.completed = description, max(total, 0), completed
        self._id, self._bar, self._console = task_id, bar, console
        self._started = self._printed_at = time.monotonic()
        self._printed = -1.0
        if console is not None:
            self._print()

    def update(self, completed: int) -> None:
        self.completed = min(max(completed, 0), self.total) if self.total else completed
        if self._bar is not None:
            self._bar.update(self._id, completed=self.completed)
            return
        share = self.completed / self.total if self.total else 1.0
        now = time.monotonic()
        if share >= 1.0 or share - self._printed >= PLAIN_STEP or now - self._printed_at >= PLAIN_SECONDS:
            if share != self._printed:
                self._print()

    def advance(self, n: int = 1) -> None:
        self.update(self.completed + n)

    def _print(self) -> None:
        share = self.completed / self.total if self.total else 1.0
        elapsed = int(time.monotonic() - self._started)
        self._console.print(f"{self.description}: {self.completed}/{self.total} ({share:.0%}), "
                            f"{elapsed // 60}:{elapsed % 60:02d} elapsed", highlight=False, markup=False)
        self._printed, self._printed_at = share, time.monotonic()
