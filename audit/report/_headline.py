"""The headline metrics per target (with their claims and chart) and the full summary table.

Values are shown in their unit: proportions in %, differences in percentage points, p-values
as they are; a refusal rate of 0 of n gets its exact one-sided upper bound in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from markupsafe import Markup

from audit.csvio import truthy
from audit.report._charts import Interval, fmt_value, interval_plot
from audit.report._claims_view import claims_for
from audit.report._format import col, is_percent, metric_name, num
from audit.report._load import RunFolder
from audit.stats._intervals import cp_upper_bound

__all__ = ["HEADLINE_METRICS", "headline", "upper_bound_sentence"]

HEADLINE_METRICS = ("refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate")


def summary_rows(summary: pd.DataFrame, target: str) -> pd.DataFrame:
    return summary[col(summary, "target") == target]


def is_difference(metric: str) -> bool:
    """Whether a metric is a difference of proportions (shown in percentage points)."""
    return "net_direction" in metric or metric.endswith(("_diff", "_difference"))


def show_value(value: float | None, metric: str, percent: bool) -> str:
    """A metric value in its unit: 7.2%, +1.5 pp (differences), 0.031 (p-values), 2.70 (others)."""
    if value is None:
        return "–"
    if is_difference(metric):
        return f"{value * 100:+.1f} pp"
    if metric.endswith(("_p", "p_value")):
        return f"{value:.3g}"
    return fmt_value(value, percent)


def _count(value: object) -> str:
    n = num(value)
    return f"{n:,.0f}" if n is not None and n == int(n) else str(value or "")


def count_value(value: object) -> int | float | None:
    """A count as a number for data files: an int when whole (1500, never "1,500"), else the
    float (an effective n), None when missing."""
    n = num(value)
    return int(n) if n is not None and n == int(n) else n


def _pct_up(p: float) -> str:
    """A proportion as a percentage with two significant digits, rounded up (for upper bounds)."""
    x = p * 100
    if not x > 0:
        return "0%"
    decimals = max(1 - math.floor(math.log10(x)), 0)
    scale = 10**decimals
    return f"{math.ceil(x * scale - 1e-9) / scale:.{decimals}f}%"


def upper_bound_sentence(k: object, n: object, confidence: float = 0.95) -> str:
    """For k = 0 of n: "0 of 400: below 0.75% with 95% confidence (exact one-sided bound)".

    The bound is the exact one-sided Clopper–Pearson upper bound (``audit.stats.cp_upper_bound``,
    the CLI's figure too), for k = 0 equal to 1 − α^(1/n); it is rounded up. '' unless k = 0.
    """
    k_num, n_num = num(k), num(n)
    if k_num != 0 or n_num is None or n_num <= 0:
        return ""
    bound = cp_upper_bound(0, n_num, confidence)
    return (
        f"0 of {n_num:,.0f}: below {_pct_up(bound)} with {confidence:.0%} confidence "
        "(exact one-sided bound)"
    )


def _bounded(metric: str) -> bool:
    """Refusal-rate metrics whose zero counts get the one-sided upper bound (as the CLI does)."""
    return metric.startswith(("refusal_rate", "asymmetric")) and not metric.endswith("_corrected")


def metric_view(row: Mapping[str, Any], claims: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary.csv row ready for display."""
    metric = str(row.get("metric", ""))
    est, lo, hi = (num(row.get(k, "")) for k in ("estimate", "ci_low", "ci_high"))
    percent = is_percent(metric, (est, lo, hi)) and not (metric.endswith(("_p", "p_value")))
    return {
        "metric": metric,
        "name": metric_name(metric),
        "estimate": est,
        "ci_low": lo,
        "ci_high": hi,
        "shown": show_value(est, metric, percent),
        "ci": f"{show_value(lo, metric, percent)} – {show_value(hi, metric, percent)}"
        if lo is not None
        else "",
        "k": _count(row.get("k", "")),
        "n": _count(row.get("n", "")),
        "k_value": count_value(row.get("k", "")),
        "n_value": count_value(row.get("n", "")),
        "method": row.get("method", ""),
        "note": row.get("note", ""),
        "percent": percent,
        "chartable": percent and not is_difference(metric),
        "claims": claims,
        "zero_bound": upper_bound_sentence(row.get("k", ""), row.get("n", ""))
        if _bounded(metric)
        else "",
    }


def headline(run: RunFolder, targets: list[str]) -> list[dict[str, Any]]:
    """Per target: the headline metrics (the three defaults plus rows flagged ``headline``)."""
    out = []
    for target in targets:
        rows = summary_rows(run.summary, target)
        chosen = list(HEADLINE_METRICS) + [
            m
            for m, h in zip(col(rows, "metric"), col(rows, "headline"), strict=True)
            if truthy(h) and m not in HEADLINE_METRICS
        ]
        metrics = []
        for metric in chosen:
            hit = rows[col(rows, "metric") == metric]
            view = metric_view(
                hit.iloc[0].to_dict() if len(hit) else {"metric": metric},
                claims_for(run.claims, target, metric),
            )
            view["missing"] = hit.empty
            metrics.append(view)
        out.append({"target": target, "metrics": metrics})
    return out


def headline_chart(blocks: list[dict[str, Any]]) -> Markup:
    """Headline rates with CI whiskers and a mark at each claimed value."""
    rows = []
    for block in blocks:
        for m in block["metrics"]:
            if m["estimate"] is None or not m["chartable"]:
                continue
            # one row per claim, so every claimed value gets its tick (a metric may have two)
            refs = [c for c in m["claims"] if c["reference"] is not None] or [None]
            for ref in refs:
                rows.append(
                    Interval(
                        f"{block['target']} · {m['name']}",
                        m["estimate"],
                        m["ci_low"],
                        m["ci_high"],
                        reference=ref["reference"] if ref else None,
                        reference_label=ref["reference_label"] if ref else "",
                    )
                )
    return interval_plot(
        rows,
        title="Headline rates with 95% intervals",
        axis_label="rate (% of answers or pairs)",
        legend="dot = estimate, whiskers = two-sided 95% interval, orange tick = published claim"
        " (one row per claim)",
    )


def extra_cell(column: str, value: object) -> str:
    """An extra summary.csv cell for display: numbers rounded (the CSV keeps every digit).

    The effective n is shown to the nearest whole unit, as in claims.csv's detail and the
    claims' sentences (docs/methods.md); the claims' one-sided bounds as percentages; other
    numbers with four significant digits.
    """
    n = num(value)
    if n is None or not math.isfinite(n):
        return str(value)
    if column == "n_eff" or n == int(n):
        return f"{n:,.0f}"
    if column in ("bound_low", "bound_high"):  # the claims' one-sided bounds: rates
        return f"{n * 100:.3g}%"
    return f"{n:.4g}"


def summary_table(run: RunFolder) -> dict[str, Any]:
    """All of summary.csv: known columns formatted, extra columns shown as they are."""
    known = {"target", "metric", "estimate", "ci_low", "ci_high", "k", "n", "method"}
    extras = [c for c in run.summary.columns if c not in known]
    rows = []
    for row in run.summary.to_dict("records"):
        view = metric_view(row, [])
        view["target"] = row.get("target", "")
        view["extras"] = [extra_cell(c, row.get(c, "")) for c in extras]
        rows.append(view)
    return {"extras": extras, "rows": rows}
