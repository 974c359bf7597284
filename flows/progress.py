"""A terminal progress bar for a run: done/total, rate, ETA and errors so far."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class ProgressBar:
    """Feed it journal records as they finish; it counts errors apart."""

    def __init__(self, total: int, done: int = 0) -> None:
        self.errors = 0
        self._bar = Progress(
            TextColumn("[bold]requests"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f}/s"), TimeRemainingColumn(),
            TextColumn("errors: {task.fields[errors]}"), transient=False,
        )
        self._task = self._bar.add_task("send", total=total, completed=done, errors=0, rate=0.0)
        self._bar.start()

    def update(self, record: dict[str, Any]) -> None:
        """Count one finished request."""
        self.errors += record.get("error") is not None
        task = self._bar.tasks[0]
        self._bar.update(self._task, advance=1, errors=self.errors, rate=task.speed or 0.0)

    def close(self) -> None:
        """Stop drawing."""
        self._bar.stop()
