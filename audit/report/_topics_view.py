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


def forest_plots(run: RunFolder, targets: list[str], max_metrics: int = 3) -> list[dict[str, Any]]:
    """Per target × topic metric: a forest plot sorted by estimate, BH-flagged topics starred."""
    out: list[dict[str, Any]] = []
    topics = scoped(run.topics, "topic")
    if topics.empty or "topic" not in topics.columns:
        return out
    for target in targets:
        mine = topics[col(topics, "target").isin([target, ""])]
        for metric in _topic_metrics(mine)[:max_metrics]:
            svg, flagged, percent = group_plot(
                mine[col(mine, "metric") == metric],
                "topic",
                f"{target}: {metric_name(metric)} by topic",
                run.summary,
                target,
                metric,
            )
            out.append(
                {
                    "target": target,
                    "metric": metric,
                    "name": metric_name(metric),
                    "svg": svg,
                    "flagged": flagged,
                    "percent": percent,
                }
            )
    return out
