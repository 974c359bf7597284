"""Errors raised by refusal-audit.

Hierarchy::

    AuditError                 a user mistake or set-up problem; the message says the fix
    ├── InputError             a bad input file (prompt set, CSV, config): names file, line, field
    ├── ConfigError            a bad option or configuration value
    ├── EndpointError          the endpoint cannot be reached at start (connection refused, DNS),
    │                          or does not serve the model
    ├── KeyRejected            the endpoint refused the API key (HTTP 401/403): the run stops
    ├── RunFolderBusy          another process is sending to the run folder (its lock is held)
    ├── DiskFullError          a write failed: no space left, quota or file-size limit reached
    └── ThresholdError         the audit ran but failed a configured threshold (exit code 1)

The CLI shows ``AuditError`` messages as one line without a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
from collections.abc import Iterator
from pathlib import Path


class AuditError(Exception):
    """A user-facing error; its message names the problem and the fix."""

    exit_code = 2


class InputError(AuditError):
    """A bad input file; the message names the file, the line and the field."""

    def __init__(self, path: object, line: int | None, message: str, fix: str = "") -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        text = f"{where}: {message}"
        if fix:
            text += f" — {fix}"
        super().__init__(text)
        self.path = path
        self.line = line


class ConfigError(AuditError):
    """A bad option or configuration value."""


class EndpointError(AuditError):
    """The endpoint could not be reached when the run started."""


class KeyRejected(AuditError):
    """The endpoint refused the API key (HTTP 401, or 403 while sending): the run stops at once,
    keeping the answers already journaled. The message names the target and where the key comes
    from (``api_key_env``), never the key."""


class RunFolderBusy(AuditError):
    """Another process holds the run folder's lock (it is sending to it); see ``audit.run._lock``."""


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""``OSError.errno`` of a write that failed for lack of room: the disk, the user's quota, or the
process's file-size limit (``RLIMIT_FSIZE``, with SIGXFSZ ignored as Python does)."""


class DiskFullError(AuditError):
    """A file could not be written for lack of room; the message names the file, the reason and
    the space left on its disk. What was written before (the journal) is intact: free some space
    and resume the run."""

    def __init__(self, path: object, exc: OSError) -> None:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "write failed")
        folder = run_folder(path)
        fix = (f"free some space, then resume the run with 'refusal-audit run --resume {folder}' (the answers "
               "received are kept)" if folder else "free some space and try again")
        super().__init__(f"cannot write {path}: {reason} ({free_space(path)} free there) — {fix}")
        self.path = path
        self.errno = exc.errno


def run_folder(path: object) -> Path | None:
    """The run folder (the one with a run.json) that ``path`` is in — itself, a shard's folder
    (``shards/<k>/``) or the run folder — if any."""
    for folder in Path(str(path)).parents[:3]:
        if (folder / "run.json").is_file():
            return folder
    return None


def free_space(path: object) -> str:
    """The free space of the disk holding ``path`` (or its nearest existing folder), e.g. '1.5 MB'."""
    probe = Path(str(path))
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = float(shutil.disk_usage(probe).free)
    except OSError:
        return "unknown space"
    units = ("bytes", "kB", "MB", "GB", "TB")
    step = 0
    while free >= 1000 and step < len(units) - 1:
        free, step = free / 1000, step + 1
    return f"{free:.0f} bytes" if step == 0 else f"{free:.1f} {units[step]}"


@contextlib.contextmanager
def writing(path: object) -> Iterator[None]:
    """Turn a write that fails for lack of room (``DISK_FULL``) into a one-line
    :class:`DiskFullError` naming ``path``; any other ``OSError`` passes unchanged."""
    try:
        yield
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise DiskFullError(path, exc) from None
        raise


class ThresholdError(AuditError):
    """The audit completed but breached a configured threshold."""

    exit_code = 1
