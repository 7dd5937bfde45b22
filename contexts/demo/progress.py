"""Progress of a demo build: a rich progress bar on an interactive terminal, silence otherwise."""

import sys
import time
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class DemoProgress(Protocol):
    """Told what the build is doing."""

    def phase(self, name: str, total: int) -> None:
        """A new phase with `total` rows to load."""

    def advance(self, rows: int) -> None:
        """Rows of the current phase loaded."""

    def finish(self, message: str) -> None:
        """The build is done."""


class Silent:
    """Reports nothing (tests, pipes, logs)."""

    def phase(self, name: str, total: int) -> None:
        """Ignore the phase."""

    def advance(self, rows: int) -> None:
        """Ignore the rows."""

    def finish(self, message: str) -> None:
        """Ignore the end."""


class TerminalProgress:
    """A rich progress bar per phase on standard error, then a closing line with the timings."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task: TaskID | None = None
        self.started = 0.0
        self.done = 0
        self.bar.start()

    def phase(self, name: str, total: int) -> None:
        """Start a bar for the phase."""
        self._close_task()
        self.task = self.bar.add_task(name, total=total, rate="")
        self.started = time.perf_counter()
        self.done = 0

    def advance(self, rows: int) -> None:
        """Move the bar on and show rows per second."""
        if self.task is None:
            return
        self.done += rows
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        total = self.bar.tasks[self.task].total or 0
        rate = f"{self.done / elapsed:,.0f} rows/s" if total > 100 else ""
        self.bar.update(self.task, advance=rows, rate=rate)

    def finish(self, message: str) -> None:
        """Stop the bars and print the closing line."""
        self._close_task()
        self.bar.stop()
        self.console.print(message)

    def _close_task(self) -> None:
        """Fill the current bar (some phases finish with one final statement)."""
        if self.task is not None:
            task = self.bar.tasks[self.task]
            self.bar.update(self.task, completed=task.total)
            self.task = None


def default_progress(rows: int) -> DemoProgress:
    """A progress bar when a person watches a load big enough to wait for; otherwise silence."""
    if rows >= 50_000 and sys.stderr.isatty():
        return TerminalProgress()
    return Silent()
