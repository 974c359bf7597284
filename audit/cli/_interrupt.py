"""Ctrl-C and SIGTERM: one line that says what was kept and the exact ``--resume`` command.

``refusal-audit run`` may be stopped at any time (the journal is flushed per answer). What the
user then needs is the run folder and the command to continue it — not Prefect's crash logs and
a traceback per thread. :func:`catch_sigterm` turns SIGTERM into an exception (as Ctrl-C is one)
for the whole command; :func:`run` runs the flow: it keeps Prefect's "Crash detected" console
lines of an interrupted run out of the terminal (the flow run is still marked *Crashed* in
Prefect's API) and turns the interruption into :class:`Interrupted`, which the app prints as one
line and exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import shlex
import signal
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

_CRASH_MESSAGES = ("Execution was cancelled by the runtime environment",
                   "Execution was aborted by a termination signal")


class Terminated(BaseException):
    """SIGTERM received (outside a flow run, where Prefect raises its own ``TerminationSignal``)."""


class Interrupted(Exception):
    """A run stopped by SIGINT or SIGTERM; ``str()`` is the line to show."""

    def __init__(self, folder: Path | None, signum: int) -> None:
        super().__init__(message(folder))
        self.folder = folder
        self.exit_code = 128 + int(signum)


def message(folder: Path | None) -> str:
    """What was kept and how to continue, in one line."""
    journal = folder / "responses.jsonl" if folder is not None else None
    if folder is None or not (folder / "run.json").is_file():
        return "interrupted before the run started: nothing was sent"
    try:
        kept = journal.read_bytes().count(b"\n") if journal is not None and journal.is_file() else 0
    except OSError:
        kept = 0
    what = f"{kept} answer{'s' if kept != 1 else ''} kept in {journal}" if kept else "no answer received yet"
    return f"interrupted: {what}; resume with: refusal-audit run --resume {shlex.quote(str(folder))}"


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def catch_sigterm() -> None:
    """SIGTERM raises :class:`Terminated` from now on (main thread only; Prefect swaps in its own
    handler while a flow runs and puts this one back)."""
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, _on_sigterm)


class _QuietCrash(logging.Filter):
    """Drops the crash records of an interrupted flow run from the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(m in text for m in _CRASH_MESSAGES)


def _console_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    found: dict[int, logging.Handler] = {}
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if type(handler).__name__ == "PrefectConsoleHandler":
                found[id(handler)] = handler
    return list(found.values())


def run(main: Coroutine[Any, Any, T], folder: Path | None) -> T:
    """``asyncio.run(main)`` in a thread of its own, so that Ctrl-C and SIGTERM reach this (the
    main) thread in a known place: the flow's task is then cancelled (Prefect marks the flow run
    *Crashed*; the journal keeps every answer received) and :class:`Interrupted` is raised once
    the flow has wound down. (In the main thread, Prefect's own SIGTERM handler raises wherever
    the signal lands, and asyncio may swallow it in a socket write: the run went on.)"""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(main)
    box: dict[str, Any] = {}
    started, done = threading.Event(), threading.Event()

    async def wrapper() -> T:
        box["loop"], box["task"] = asyncio.get_running_loop(), asyncio.current_task()
        started.set()
        return await main

    def target() -> None:
        try:
            box["result"] = asyncio.run(wrapper())
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc
        finally:
            started.set()
            done.set()

    context = contextvars.copy_context()  # Prefect's settings (the temporary API) are context variables
    thread = threading.Thread(target=context.run, args=(target,), name="refusal-audit-flow", daemon=True)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    quiet = _quiet_console()
    try:
        signum = _wait(thread, box, started, done)
    finally:
        signal.signal(signal.SIGTERM, previous)
        quiet()
    if signum is not None:
        raise Interrupted(folder, signum)
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


def _wait(thread: threading.Thread, box: dict[str, Any], started: threading.Event,
          done: threading.Event) -> int | None:
    """Wait for the flow's thread; on a signal, cancel its task and keep waiting. The signal number.
    (An Event, not ``Thread.join``: a join interrupted by a signal may leave the thread looking
    stopped in Python 3.11, and the interpreter would then shut down under the flow.)"""
    signum = None
    thread.start()
    while not done.is_set():
        try:
            done.wait()
        except (KeyboardInterrupt, Terminated) as exc:
            signum = signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM
            started.wait()
            if "task" in box and not box["loop"].is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    box["loop"].call_soon_threadsafe(box["task"].cancel)
    thread.join()
    return None if signum is None else int(signum)


def _quiet_console() -> Callable[[], None]:
    """Keep the crash records of an interrupted flow run off the console; return the undo."""
    quiet = _QuietCrash()
    handlers = _console_handlers()
    for handler in handlers:
        handler.addFilter(quiet)

    def undo() -> None:
        for handler in handlers:
            handler.removeFilter(quiet)

    return undo
