"""The response journal: an append-only JSONL file, one finished request per line.

The journal is the source of truth of a run. Every finished request (a success or a final
failure) is appended and flushed at once, so a crash or a kill never loses a completed request.
A torn last line (a kill in the middle of a write) is detected and cut off on open. A write
that fails (a full disk: :class:`~audit.errors.DiskFullError`) takes back the part of its line
that reached the file, so the journal stays whole and a resume sends that request again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from audit.errors import InputError, writing

JOURNAL_NAME = "responses.jsonl"


def repair(path: Path) -> int:
    """Cut a torn last line off the journal; return the number of bytes removed."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as fh:
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return 0
        keep = _last_newline(fh, size)
        fh.truncate(keep)
        return size - keep


def _last_newline(fh: Any, size: int) -> int:
    """Offset just after the last newline of an open binary file (0 if none)."""
    block = 65536
    end = size
    while end > 0:
        start = max(0, end - block)
        fh.seek(start)
        chunk = fh.read(end - start)
        idx = chunk.rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        end = start
    return 0


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Stream the journal's records; a torn last line is skipped, any other bad line is an error."""
    for _, rec in iter_offsets(path):
        yield rec


def iter_offsets(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream ``(byte offset of the line, record)``; same rules as :func:`iter_records`.

    An offset lets a later pass re-read one record (:func:`read_at`) instead of keeping it.
    """
    if not path.exists():
        return
    offset = 0
    with path.open("rb") as fh:
        for no, raw in enumerate(fh, start=1):
            here, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                yield here, json.loads(raw)
            except json.JSONDecodeError:
                if not raw.endswith(b"\n"):
                    return  # torn last line: repaired on the next open for writing
                raise InputError(path, no, "the journal line is not valid JSON",
                                 "the file was edited by hand; restore it or delete that line") from None


def read_at(path: Path, offsets: Iterable[int]) -> Iterator[dict[str, Any]]:
    """The records starting at ``offsets`` (from :func:`iter_offsets`), in the order given.

    Offsets in increasing order read the file sequentially; a jump is one seek.
    """
    with path.open("rb") as fh:
        pos = 0
        for off in offsets:
            if off != pos:
                fh.seek(off)
            raw = fh.readline()
            pos = off + len(raw)
            yield json.loads(raw)


def done_ids(path: Path, key: str = "request_id", *, answered_only: bool = False) -> set[str]:
    """The ids of every request already in the journal (with ``answered_only``, those with a
    record that is not an API error: what ``--retry-errors`` leaves alone)."""
    return {rec[key] for rec in iter_records(path) if key in rec and not (answered_only and rec.get("error"))}


class Journal:
    """Append-only writer: each record is written as one line and flushed to the OS at once."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = path
        self.repaired_bytes = repair(path)
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("ab", buffering=0)
        self._fsync = fsync

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as a single line and flush it. When the write fails part way (a full
        disk writes what fits, then fails), the part written is cut off again: the journal never
        keeps half a line, and a failed write raises ``DiskFullError`` (one line)."""
        line = memoryview(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
        done = 0
        with writing(self.path):
            try:
                while done < len(line):
                    written = self._fh.write(line[done:])
                    if not written:
                        raise OSError(errno.EIO, "the journal took no bytes")
                    done += written
                if self._fsync:
                    os.fsync(self._fh.fileno())
            except BaseException:
                if done:
                    self._take_back(done)
                raise

    def _take_back(self, size: int) -> None:
        """Cut the last ``size`` bytes (a line written in part) off the file."""
        fd = self._fh.fileno()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - size))

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
