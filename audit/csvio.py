"""CSV files that spreadsheets cannot turn into formulas, and that read back to what was written.

**Formula neutralisation, reversible.** Model output is hostile input: a text cell that begins
with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return (OWASP's CSV Injection page) or a NUL
character (OWASP ASVS 5.0, V1.2.10) is written with a leading single quote, unless it is a plain
number (``-0.03`` stays a number). So that the quote can be taken off again, a text cell that
begins with a single quote itself gets one more: the writer's mapping is one to one, and
:func:`read_csv` (every reader of the project's own CSVs goes through it) strips exactly one
leading ``'`` from every text cell that starts with one. A model called ``@cf/meta/llama-3.1-8b``
is written ``'@cf/meta/llama-3.1-8b`` and read back as ``@cf/meta/llama-3.1-8b``; an answer
``'Tis so`` is written ``''Tis so``. A cell that begins with a space (`` =1``) is left alone:
neither list names it. Files written before this rule (a lone quote was then left as it was)
read back the same, except a text that itself began with a quote, which loses it.

**Any text survives.** Cells are quoted as RFC 4180 asks (when they hold a comma, a quote or a
line break). Python's ``csv`` quotes only the line terminator's characters, so with ``\\n`` line
ends a lone carriage return (``"Sure.\\rNext"``) would be written bare and split the row for
every reader: a frame whose text holds a ``\\r`` is written with a record terminator made of a
carriage return, a quote and a newline (every field holding one of them is then quoted; inside
a quoted field a quote is always doubled, so that sequence can only be a record's end) and the
terminators are turned back into ``\\n``. Files keep ``\\n`` line ends; frames without a ``\\r``
are written byte for byte as before. NUL characters need nothing: pandas and ``csv`` read them
back. ``tests/test_csvio.py`` checks the round trip on arbitrary Unicode text (Hypothesis).

**Atomic, one temp file per writer.** A file is written to a unique temp file beside it
(``tempfile.mkstemp``: two processes never share one), renamed over the target on success and
removed on any failure. A write that fails for lack of room raises
:class:`~audit.errors.DiskFullError` (one line: the file and the free space).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import pandas as pd

from audit.errors import InputError, writing

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\0")
_QUOTE = "'"
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_RECORD_END = "\r\"\n"  # the record terminator of a frame holding a carriage return (see above)


def neutralise(value: object) -> object:
    """Return the cell value made safe for spreadsheets (strings only; numbers untouched): a
    quote before a dangerous first character, or before a quote (so that it can be undone)."""
    if not isinstance(value, str):
        return value
    if value.startswith(_QUOTE) or (value.startswith(_DANGEROUS) and not _NUMBER.match(value)):
        return _QUOTE + value
    return value


def unneutralise(value: object) -> object:
    """The cell as it was before :func:`neutralise` (one leading quote off a text cell)."""
    if isinstance(value, str) and value.startswith(_QUOTE):
        return value[1:]
    return value


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values)


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its text cells neutralised, as a new frame (``df`` is not modified).

    Only text columns that hold a dangerous cell are rebuilt; the others are shared with
    ``df``, not copied (copy on write). A categorical column is neutralised once per category,
    not once per row.
    """
    out = df.copy(deep=False)
    for i in range(out.shape[1]):
        values = out.iloc[:, i]
        if isinstance(values.dtype, pd.CategoricalDtype) and _harmless(values.cat.categories):
            continue
        if _is_text(values):
            out.isetitem(i, values.map(neutralise))
    return out


def restore_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`safe_frame` on a frame read from CSV, in place: one leading quote off every
    text cell that starts with one. Returns ``df``."""
    for i in range(df.shape[1]):
        values = df.iloc[:, i]
        if not _is_text(values):
            continue
        try:
            quoted = values.str.startswith(_QUOTE, na=False)
        except AttributeError:  # an object column without strings
            continue
        if quoted.any():
            df.isetitem(i, values.where(~quoted, values.str[1:]))
    return df


def read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    """A CSV written by :func:`write_csv` or :class:`CsvWriter`, read back as the frame that was
    written: ``pandas.read_csv(path, **kwargs)`` (UTF-8 unless ``encoding`` is given; not with
    ``chunksize``/``iterator``), then :func:`restore_frame`. With ``dtype=str,
    keep_default_na=False`` every text cell comes back exactly."""
    kwargs.setdefault("encoding", "utf-8")
    return restore_frame(pd.read_csv(path, **kwargs))


def _harmless(categories: pd.Index) -> bool:
    """Whether neutralising leaves every one of ``categories`` as it is."""
    return all(neutralise(c) is c for c in categories)


def _holds_carriage_return(df: pd.DataFrame, header: bool) -> bool:
    """Whether a text cell (or, with ``header``, a column name) holds a ``\\r``."""
    if header and any("\r" in str(c) for c in df.columns):
        return True
    for i in range(df.shape[1]):
        values = df.iloc[:, i]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = pd.Series(values.cat.categories, dtype=object)
        if not _is_text(values):
            continue
        try:
            if values.str.contains("\r", regex=False, na=False).any():
                return True
        except AttributeError:  # an object column without strings
            continue
    return False


def _write_frame(df: pd.DataFrame, fh: IO[str], header: bool) -> None:
    """Write ``df`` (neutralised) as CSV rows to ``fh``, ``\\n`` line ends, every ``\\r`` quoted."""
    safe = safe_frame(df)
    if _holds_carriage_return(safe, header):
        fh.write(safe.to_csv(index=False, header=header, lineterminator=_RECORD_END).replace(_RECORD_END, "\n"))
    else:
        safe.to_csv(fh, index=False, header=header, lineterminator="\n")


@functools.cache
def _umask() -> int:
    """This process's umask (read once; Linux shows it in /proc without changing it)."""
    with contextlib.suppress(OSError, ValueError, StopIteration), open("/proc/self/status", encoding="ascii") as fh:
        return int(next(line for line in fh if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class _TempFile:
    """A unique temp file beside ``path``, with the mode a plain ``open`` would give ``path``
    (mkstemp's 0600 widened to 0666 less the umask, or kept from the file it replaces)."""

    def __init__(self, path: Path, binary: bool = False) -> None:
        self.path = path
        with writing(path):
            fd, self.name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                try:
                    mode = path.stat().st_mode & 0o777
                except OSError:
                    mode = 0o666 & ~_umask()
                os.fchmod(fd, mode)
            except BaseException:
                os.close(fd)
                os.unlink(self.name)
                raise
        self.fh: IO[Any] = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")

    def commit(self) -> None:
        """Close the temp file and rename it over ``path`` (removed if that fails)."""
        try:
            with writing(self.path):
                self.fh.close()
                os.replace(self.name, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Close and remove the temp file (``path`` is left as it was)."""
        with contextlib.suppress(OSError):
            self.fh.close()  # a failed flush still closes the file
        with contextlib.suppress(OSError):
            os.unlink(self.name)


@contextlib.contextmanager
def atomic_file(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """A file to write ``path`` through: a unique temp file in the same folder (so two writers
    never share one), renamed over ``path`` when the block ends cleanly, removed when it raises.
    Text mode is UTF-8 with no newline translation. A write that fails for lack of room raises
    :class:`~audit.errors.DiskFullError`."""
    tmp = _TempFile(path, binary)
    try:
        with writing(path):
            yield tmp.fh
    except BaseException:
        tmp.abort()
        raise
    tmp.commit()


def _check_folder(path: Path) -> None:
    if not path.parent.is_dir():
        raise InputError(path, None, f"the folder {path.parent} does not exist", "create it or pick another -o path")


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write UTF-8 CSV without index, neutralised, atomically (a unique temp file, then rename)."""
    _check_folder(path)
    with atomic_file(path) as fh:
        _write_frame(df, fh, header=True)
    return path


def write_csv_to(df: pd.DataFrame, fh: IO[str]) -> None:
    """``write_csv`` to an open text stream (e.g. stdout for ``-o -``): neutralised, not atomic."""
    _write_frame(df, fh, header=True)
    fh.flush()


class CsvWriter:
    """``write_csv`` chunk by chunk: a CSV too big to hold as one frame, written as frames.

    The header comes from the first chunk (every chunk must have the same columns); each chunk is
    neutralised like ``write_csv``. The file is written to a unique temp file and renamed on a
    clean exit (atomic, as ``write_csv``); on an exception the temp file is removed. With no
    chunk written, the file holds the header of ``columns`` (if given) or nothing.

        with CsvWriter(path, columns) as out:
            for frame in frames:
                out.write(frame)
    """

    def __init__(self, path: Path, columns: list[str] | None = None) -> None:
        _check_folder(path)
        self.path = path
        self.columns = list(columns) if columns is not None else None
        self.rows = 0
        self._tmp: _TempFile | None = None
        self._header = False

    def __enter__(self) -> Self:
        self._tmp = _TempFile(self.path)
        return self

    def write(self, df: pd.DataFrame) -> None:
        """Append the rows of ``df`` (the header too, the first time)."""
        assert self._tmp is not None, "use CsvWriter as a context manager"
        if self.columns is None:
            self.columns = list(df.columns)
        elif list(df.columns) != self.columns:
            raise ValueError(f"chunk columns {list(df.columns)} differ from {self.columns}")
        with writing(self.path):
            _write_frame(df, self._tmp.fh, header=not self._header)
        self._header = True
        self.rows += len(df)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._tmp is not None
        if exc_type is not None:
            self._tmp.abort()
            return
        try:
            if not self._header and self.columns is not None:
                with writing(self.path):
                    _write_frame(pd.DataFrame(columns=self.columns), self._tmp.fh, header=True)
        except BaseException:
            self._tmp.abort()
            raise
        self._tmp.commit()


TRUE_VALUES = frozenset({"true", "1", "1.0", "yes", "y", "t"})
"""CSV cells that mean true, once stripped and lower-cased (``True``, ``1``, ``yes``, ...)."""


def truthy(value: object) -> bool:
    """Whether a CSV cell means true: one of ``TRUE_VALUES`` in any case, spaces ignored."""
    return str(value).strip().lower() in TRUE_VALUES


def numbered_rows(reader: Any) -> list[tuple[int, Any]]:
    """Every row of a CSV reader (``csv.reader`` or ``csv.DictReader``) whose header is read,
    each with the line it starts on (a quoted field may span lines, so the reader's own count is
    taken before each row)."""
    rows: list[tuple[int, Any]] = []
    start = reader.line_num + 1
    for row in reader:
        rows.append((start, row))
        start = reader.line_num + 1
    return rows
