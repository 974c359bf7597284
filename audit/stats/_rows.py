"""Row helpers: summary/topic rows (plain dicts) from intervals and tests, and the typed table
built from them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from audit.stats import _intervals as stats

__all__ = []  # private helpers of the tables

_DEFAULTS: dict[str, Any] = {"method": "", "scope": "", "note": "", "headline": False,
                             "flagged": False, "target": "", "metric": "", "topic": "",
                             "template": ""}

Row = dict[str, Any]


def _frame(rows: list[Row], columns: list[str]) -> pd.DataFrame:
    """A table with exactly ``columns`` (in order), defaults filled, stable dtypes."""
    out = pd.DataFrame(rows, columns=columns)
    for col in columns:
        if col in _DEFAULTS:
            values = out[col].astype(object)
            default = _DEFAULTS[col]
            out[col] = values.where(values.notna(), default).astype(type(default))
        else:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out


def _interval_row(metric: str, ci: Any, k: float, n: float, scope: str, **extra: Any) -> Row:
    """A summary row from an Interval/ClusteredInterval and its counts."""
    row: Row = {"metric": metric, "estimate": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
                "k": k, "n": n, "method": ci.method, "scope": scope}
    if isinstance(ci, stats.ClusteredInterval):
        row.update(design_effect=ci.design_effect, n_eff=ci.n_eff, clusters=ci.clusters)
    row.update(extra)
    return row


def _test_row(metric: str, test: stats.TestResult, k: float, n: float, scope: str) -> Row:
    """A summary row whose estimate is a p-value."""
    return {"metric": metric, "estimate": test.p_value, "k": k, "n": n, "method": test.method,
            "p_value": test.p_value, "statistic": test.statistic, "scope": scope}
