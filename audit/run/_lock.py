"""One sending process per run folder: an advisory lock on ``<run folder>/run.lock``.

The process that sends a run holds an exclusive ``fcntl.flock`` on the folder's ``run.lock``
from before its first request until its reports are written; a second ``run --resume`` of the
same folder (another terminal, a cron job, a retried flow run) is refused at once with
:class:`~audit.errors.RunFolderBusy` instead of sending every pending request a second time.
The kernel drops the lock when the process ends, however it ends (``kill -9`` included), so a
stale lock never blocks a resume. The file itself stays (empty but for the holder's pid): it is
never removed, since removing a lock file while another process waits on it breaks the lock.

The lock is per process and re-entrant: the CLI takes it before the flow starts and the flow
takes it again. A shard of a sharded run locks its own folder (``shards/<k>/``), so the parent,
which holds the run folder's lock, and its shards never lock each other out. On a system
without ``fcntl`` (Windows) the lock does nothing. Over NFS, Linux maps ``flock`` to NFS byte-range
locks, which work between machines when the server supports them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from audit.errors import RunFolderBusy, writing

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "check_free", "run_lock"]

LOCK_NAME = "run.lock"

_GUARD = threading.Lock()
_HELD: dict[str, list[int]] = {}  # lock file (real path) → [file descriptor, holds in this process]


def _busy(folder: Path, fd: int) -> RunFolderBusy:
    pid = ""
    with contextlib.suppress(OSError, ValueError):
        pid = f" (pid {int(os.pread(fd, 32, 0).decode('ascii').strip())})"
    return RunFolderBusy(f"{folder} is in use: another refusal-audit process{pid} is sending to it — let it "
                         f"finish (or stop it), then resume with 'refusal-audit run --resume {folder}'")


def _acquire(folder: Path) -> str:
    """Take the lock of ``folder`` (or one more hold of it); return its key for ``_release``."""
    path = Path(folder) / LOCK_NAME
    key = os.path.realpath(path)
    with _GUARD:
        if key in _HELD:
            _HELD[key][1] += 1
            return key
        with writing(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            error = _busy(Path(folder), fd)
            os.close(fd)
            raise error from None
        except BaseException:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):  # who holds it, for the message (best effort: a full disk)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _HELD[key] = [fd, 1]
        return key


def _release(key: str) -> None:
    with _GUARD:
        held = _HELD[key]
        held[1] -= 1
        if held[1] == 0:
            del _HELD[key]
            os.close(held[0])  # closing the descriptor drops the flock


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the sending lock of a run folder (which must exist) for the block; raise
    :class:`~audit.errors.RunFolderBusy` (one line, exit 2) when another process holds it."""
    key = _acquire(Path(folder))
    try:
        yield
    finally:
        _release(key)


def check_free(folder: Path) -> None:
    """Raise :class:`~audit.errors.RunFolderBusy` now if another process holds the lock (a
    check before anything starts; the run takes the lock itself with :func:`run_lock`)."""
    with run_lock(folder):
        pass
