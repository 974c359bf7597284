"""A run folder read back: ``run.json`` and the CSV tables (see ``reports/README.md``) as text.

``load_run(run_dir)`` reads them into a ``RunFolder``. The code is defensive about its input:
optional files may be missing and extra columns are ignored, so the report shows what is there
and says what is not (``RunFolder.missing``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit.csvio import read_csv
from audit.errors import InputError

__all__ = ["RunFolder", "load_run", "read_table"]

OPTIONAL_FILES = (
    "responses.csv",
    "pairs.csv",
    "topics.csv",
    "claims.csv",
    "comparison.csv",
    "drift.csv",
)
_SOMETIMES = ("comparison.csv", "drift.csv")  # written only in some runs: absence is normal


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder, read as text tables (missing optional files are empty)."""

    path: Path
    run: dict[str, Any]
    summary: pd.DataFrame
    responses: pd.DataFrame = field(default_factory=pd.DataFrame)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    topics: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: tuple[str, ...] = ()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            path, exc.lineno, f"not valid JSON ({exc.msg})", "re-run the audit or fix the file"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            path, None, f"cannot read run.json ({exc})", "check the file is UTF-8 JSON"
        ) from exc
    if not isinstance(data, dict):
        raise InputError(path, None, "run.json must hold a JSON object", "re-run the audit")
    return data


def read_table(path: Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a run-folder CSV as text cells ('' for empty); check the required columns exist."""
    try:
        df = read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            path, None, f"cannot parse CSV ({exc})", "re-run the audit to rewrite it"
        ) from exc
    absent = [c for c in required if c not in df.columns]
    if absent:
        raise InputError(
            path,
            1,
            f"missing column(s) {', '.join(absent)}",
            "see reports/README.md for the columns",
        )
    return df


def load_run(run_dir: Path, only: Iterable[str] | None = None) -> RunFolder:
    """Read a run folder; raise ``InputError`` if it is not one (no run.json or summary.csv).

    ``only`` limits which optional tables are read (e.g. ``("claims.csv",)`` for the history,
    which must not read a 100 MB responses.csv); the others are left empty.
    """
    run_dir = Path(run_dir)
    wanted = set(OPTIONAL_FILES if only is None else only)
    if not run_dir.is_dir():
        raise InputError(run_dir, None, "no such run folder", "give a folder like reports/<run-id>")
    for name in ("run.json", "summary.csv"):
        if not (run_dir / name).is_file():
            raise InputError(
                run_dir / name,
                None,
                "missing",
                "a run folder holds run.json and summary.csv; re-run the audit",
            )
    tables = {
        name: _optional(run_dir / name) if name in wanted else pd.DataFrame()
        for name in OPTIONAL_FILES
    }
    return RunFolder(
        path=run_dir,
        run=_read_json(run_dir / "run.json"),
        summary=read_table(run_dir / "summary.csv", ("target", "metric", "estimate")),
        responses=tables["responses.csv"],
        pairs=tables["pairs.csv"],
        topics=tables["topics.csv"],
        claims=tables["claims.csv"],
        comparison=tables["comparison.csv"],
        drift=tables["drift.csv"],
        missing=tuple(
            n
            for n in OPTIONAL_FILES
            if n in wanted and n not in _SOMETIMES and not (run_dir / n).is_file()
        ),
    )


def _optional(path: Path) -> pd.DataFrame:
    return read_table(path) if path.is_file() else pd.DataFrame()
