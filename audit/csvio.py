"""CSV output that spreadsheets cannot turn into formulas.

Model output is hostile input: a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab, a
carriage return (OWASP's CSV Injection page) or a NUL character (OWASP ASVS 5.0, V1.2.10) is
prefixed with a single quote, unless it is a plain number. A cell that begins with a space
(`` =1``) is left alone: neither list names it.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import pandas as pd

from audit.errors import InputError

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\0")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralise(value: object) -> object:
    """Return the cell value made safe for spreadsheets (strings only; numbers untouched)."""
    if isinstance(value, str) and value.startswith(_DANGEROUS) and not _NUMBER.match(value):
        return "'" + value
    return value


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
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            out.isetitem(i, values.map(neutralise))
    return out


def _harmless(categories: pd.Index) -> bool:
    """Whether neutralising leaves every one of ``categories`` as it is."""
    return all(neutralise(c) is c for c in categories)


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write UTF-8 CSV without index, neutralised, atomically (temp file then rename)."""
    if not path.parent.is_dir():
        raise InputError(path, None, f"the folder {path.parent} does not exist", "create it or pick another -o path")
    tmp = path.with_suffix(path.suffix + ".tmp")
    safe_frame(df).to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    tmp.replace(path)
    return path


class CsvWriter:
    """``write_csv`` chunk by chunk: a CSV too big to hold as one frame, written as frames.

    The header comes from the first chunk (every chunk must have the same columns); each chunk is
    neutralised like ``write_csv``. The file is written to a temp file and renamed on a clean
    exit (atomic, as ``write_csv``); on an exception the temp file is removed. With no chunk
    written, the file holds the header of ``columns`` (if given) or nothing.

        with CsvWriter(path, columns) as out:
            for frame in frames:
                out.write(frame)
    """

    def __init__(self, path: Path, columns: list[str] | None = None) -> None:
        if not path.parent.is_dir():
            raise InputError(path, None, f"the folder {path.parent} does not exist", "create it or pick another -o path")
        self.path = path
        self.columns = list(columns) if columns is not None else None
        self.rows = 0
        self._tmp = path.with_suffix(path.suffix + ".tmp")
        self._fh: IO[str] | None = None
        self._header = False

    def __enter__(self) -> Self:
        self._fh = self._tmp.open("w", encoding="utf-8", newline="")
        return self

    def write(self, df: pd.DataFrame) -> None:
        """Append the rows of ``df`` (the header too, the first time)."""
        assert self._fh is not None, "use CsvWriter as a context manager"
        if self.columns is None:
            self.columns = list(df.columns)
        elif list(df.columns) != self.columns:
            raise ValueError(f"chunk columns {list(df.columns)} differ from {self.columns}")
        safe_frame(df).to_csv(self._fh, index=False, header=not self._header, lineterminator="\n")
        self._header = True
        self.rows += len(df)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._fh is not None
        try:
            if exc_type is None and not self._header and self.columns is not None:
                pd.DataFrame(columns=self.columns).to_csv(self._fh, index=False, lineterminator="\n")
        finally:
            self._fh.close()
        if exc_type is None:
            self._tmp.replace(self.path)
        else:
            self._tmp.unlink(missing_ok=True)


TRUE_VALUES = frozenset({"true", "1", "1.0", "yes", "y", "t"})
"""CSV cells that mean true, once stripped and lower-cased (``True``, ``1``, ``yes``, ...)."""


def truthy(value: object) -> bool:
    """Whether a CSV cell means true: one of ``TRUE_VALUES`` in any case, spaces ignored."""
    return str(value).strip().lower() in TRUE_VALUES
