"""Gold files for tests: the shared XSTest files (if present) and small generic CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest

XSTEST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "xstest"
XSTEST_FILES = sorted(XSTEST.glob("xstest_v2_completions_*.csv"))
needs_xstest = pytest.mark.skipif(
    not XSTEST_FILES, reason=f"XSTest gold files not found in {XSTEST} (the shared reference "
    "data sits beside the repository, at ../shared/data)")


def write(path: Path, text: str) -> Path:
    """Write a small CSV."""
    path.write_text(text, encoding="utf-8")
    return path


def generic(tmp_path: Path) -> Path:
    """A generic gold CSV whose second response spans two lines."""
    return write(tmp_path / "gold.csv", 'prompt,response,label\n'
                 'Write X,"Sure, here is X.",compliance\n'
                 'Write Y,"I can\'t help with that.\nSorry.",Refusal\n'
                 'Write Z,"I won\'t write Z, but here is a balanced overview instead.",'
                 'partial refusal\n')


