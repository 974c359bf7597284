"""Per-topic forest plots: topics.csv rows sorted by estimate, BH-flagged ones starred.

``scoped`` and ``group_plot`` also draw the per-template plot of the pair asymmetry view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from markupsafe import Markup

from audit.csvio import truthy
from audit.report._charts import Interval, RefLine, fmt_value, interval_plot
from audit.report._format import col, is_percent, metric_name, num
from audit.report._load import RunFolder

__all__ = []


_TOPIC_METRIC_ORDER = (
    "asymmetric_refusal_rate",
    "net_direction",
    "refusal_rate",
    "refusal_rate_broad",
)
_FLAG_LEGEND = "★ red = flagged after Benjamini–Hochberg correction (q < 0.05)"


def scoped(topics: pd.DataFrame, scope: str) -> pd.DataFrame:
    """topics.csv rows of one scope (``topic`` or ``template``); no ``scope`` column = per topic."""
    if "scope" not in topics.columns:
        return topics if scope == "topic" else topics.iloc[0:0]
    return topics[col(topics, "scope").isin([scope, ""] if scope == "topic" else [scope])]


def _topic_metrics(topics: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(col(topics, "metric")))
    return [m for m in _TOPIC_METRIC_ORDER if m in present] + [
        m for m in present if m not in _TOPIC_METRIC_ORDER
    ]


def _group_interval(row: Mapping[str, Any], label_column: str) -> Interval:
    q = num(row.get("q_value", ""))
    note = f"q={q:.3g}" if q is not None else ""
    n = num(row.get("n", ""))
    note = f"n={n:g} {note}".strip() if n is not None else note
    return Interval(
        str(row.get(label_column, "")) or "(none)",
        num(row.get("estimate", "")) or 0.0,
        num(row.get("ci_low", "")),
        num(row.get("ci_high", "")),
        flagged=truthy(row.get("flagged", "")),
        note=note,
    )


def group_plot(
    rows_df: pd.DataFrame,
    label_column: str,
    title: str,
    summary: pd.DataFrame,
    target: str,
    metric: str,
) -> tuple[Markup, list[Interval], bool]:
    """A forest plot of topics.csv rows (sorted by estimate, flags starred, overall as a line)."""
    rows = [_group_interval(r, label_column) for r in rows_df.to_dict("records")]
    rows.sort(key=lambda r: (-r.estimate, r.label))
    percent = is_percent(metric, [r.estimate for r in rows])
    svg = interval_plot(
        rows,
        title=title,
        refs=_overall(summary, target, metric, percent),
        percent=percent,
        axis_label=f"{metric_name(metric)}{' in %' if percent else ''}, with 95% interval",
        legend=_FLAG_LEGEND,
    )
    return svg, [r for r in rows if r.flagged], percent


def _overall(summary: pd.DataFrame, target: str, metric: str, percent: bool) -> list[RefLine]:
    hit = summary[(col(summary, "target") == target) & (col(summary, "metric") == metric)]
    value = num(hit.iloc[0]["estimate"]) if len(hit) else None
    return [RefLine(value, f"overall {fmt_value(value, percent)}")] if value is not None else []


MAX_FOREST_ROWS = 30
"""More topics than this, or a median below ``MIN_TOPIC_N`` units per topic: no full forest plot
(a wall of whiskers that span most of the axis), only the flagged topics and a compact table."""
MIN_TOPIC_N = 5


def _is_small(rows_df: pd.DataFrame) -> tuple[bool, float | None]:
    """(too many or too small topics for a full forest plot, the median units per topic)."""
    sizes = pd.to_numeric(col(rows_df, "n"), errors="coerce").dropna()
    median = float(sizes.median()) if len(sizes) else None
    return len(rows_df) > MAX_FOREST_ROWS or (median is not None and median < MIN_TOPIC_N), median


def _table_rows(rows_df: pd.DataFrame, percent: bool) -> list[dict[str, Any]]:
    """Every topic as a table row, highest estimate first (flagged topics first among equals)."""
    rows = [_group_interval(r, "topic") for r in rows_df.to_dict("records")]
    rows.sort(key=lambda r: (-r.estimate, not r.flagged, r.label))
    return [
        {
            "label": r.label,
            "shown": fmt_value(r.estimate, percent),
            "ci": f"{fmt_value(r.low, percent)} – {fmt_value(r.high, percent)}"
            if r.low is not None and r.high is not None
            else "",
            "note": r.note,
            "flagged": r.flagged,
        }
        for r in rows
    ]


def _forest(run: RunFolder, rows_df: pd.DataFrame, target: str, metric: str) -> dict[str, Any]:
    """One target × metric: the forest plot, or for many small topics the flagged ones only."""
    title = f"{target}: {metric_name(metric)} by topic"
    svg, flagged, percent = group_plot(rows_df, "topic", title, run.summary, target, metric)
    small, median = _is_small(rows_df)
    if small:
        picked = rows_df[col(rows_df, "flagged").map(truthy)] if "flagged" in rows_df else None
        svg = (
            group_plot(picked, "topic", f"{title} (flagged topics only)", run.summary, target,
                       metric)[0]
            if picked is not None and len(picked)
            else Markup("")
        )
    return {
        "target": target,
        "metric": metric,
        "name": metric_name(metric),
        "svg": svg,
        "flagged": flagged,
        "percent": percent,
        "compact": small,
        "n_topics": len(rows_df),
        "median_n": f"{median:g}" if median is not None else "?",
        "table": _table_rows(rows_df, percent) if small else [],
    }


def forest_plots(run: RunFolder, targets: list[str], max_metrics: int = 3) -> list[dict[str, Any]]:
    """Per target × topic metric: a forest plot sorted by estimate, BH-flagged topics starred
    (for many or small topics: only the flagged ones, and every topic in a compact table)."""
    out: list[dict[str, Any]] = []
    topics = scoped(run.topics, "topic")
    if topics.empty or "topic" not in topics.columns:
        return out
    for target in targets:
        mine = topics[col(topics, "target").isin([target, ""])]
        for metric in _topic_metrics(mine)[:max_metrics]:
            out.append(_forest(run, mine[col(mine, "metric") == metric], target, metric))
    return out
