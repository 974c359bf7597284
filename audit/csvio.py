"""CSV output that spreadsheets cannot turn into formulas.

Model output is hostile input: a cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with a single quote (OWASP's advice), unless it is a plain number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from audit.errors import InputError

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralise(value: object) -> object:
    """Return the cell value made safe for spreadsheets (strings only; numbers untouched)."""
    if isinstance(value, str) and value.startswith(_DANGEROUS) and not _NUMBER.match(value):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are neutralised."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write UTF-8 CSV without index, neutralised, atomically (temp file then rename)."""
    if not path.parent.is_dir():
        raise InputError(path, None, f"the folder {path.parent} does not exist", "create it or pick another -o path")
    tmp = path.with_suffix(path.suffix + ".tmp")
    safe_frame(df).to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    tmp.replace(path)
    return path
