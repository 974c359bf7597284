"""Progress while requests run: done/total, rate, ETA and errors so far.

On a terminal, a rich bar (:class:`ProgressBar`); when stderr is not a terminal (a redirected
log, CI, ``nohup``), a plain line every few seconds (:class:`ProgressLines`), so a log shows
the run moving. :func:`progress_reporter` picks the one that fits.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

PLAIN_EVERY_S = 5.0
"""Seconds between two plain progress lines."""


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


class ProgressLines:
    """Plain progress lines on a stream that is not a terminal: one at the start, one every
    ``every`` seconds while requests run (also while none finishes: a slow endpoint shows as a
    falling rate), and one at the end. The rate and ETA count only this process's requests."""

    def __init__(self, total: int, done: int = 0, every: float | None = None,
                 stream: TextIO | None = None) -> None:
        self.total, self.done, self.errors = total, done, 0
        self._start_done, self._t0 = done, time.monotonic()
        self._stream = stream
        self._stop = threading.Event()
        self._every = PLAIN_EVERY_S if every is None else every
        self._emit()
        self._thread = threading.Thread(target=self._loop, name="progress-lines", daemon=True)
        self._thread.start()

    def update(self, record: dict[str, Any]) -> None:
        """Count one finished request."""
        self.errors += record.get("error") is not None
        self.done += 1

    def close(self) -> None:
        """Stop the timer and write the last line."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._emit()

    def line(self) -> str:
        """The current state in one line, e.g. ``requests 120/316 (38%) · 1.9/s · ETA 1m43s · errors 0``."""
        elapsed = time.monotonic() - self._t0
        sent = self.done - self._start_done
        rate = sent / elapsed if elapsed > 0 else 0.0
        left = max(self.total - self.done, 0)
        eta = _duration(left / rate) if rate > 0 else "unknown"
        pct = f"{self.done / self.total:.0%}" if self.total else "100%"
        return (f"requests {self.done}/{self.total} ({pct}) · {rate:.1f}/s · ETA {eta} · "
                f"errors {self.errors} · {_duration(elapsed)} elapsed")

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self._emit()

    def _emit(self) -> None:
        stream = self._stream or sys.stderr  # looked up each time: the stream may be swapped
        try:  # written, not print()ed: the flow's log_prints would turn it into a log record
            stream.write(self.line() + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: progress is not worth a crash
            pass


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def progress_reporter(total: int, done: int = 0) -> ProgressBar | ProgressLines:
    """The bar on a terminal, plain lines every few seconds elsewhere."""
    if sys.stderr.isatty():
        return ProgressBar(total, done)
    return ProgressLines(total, done)
