"""Pair asymmetry per target: one-sided refusals by lean and by template, from pairs.csv.

Rates among valid pairs carry Wilson 95% intervals (``audit.stats``'s, via ``rate_row``); the
per-template plot uses topics.csv's template rows (with their BH flags) when there are some.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from markupsafe import Markup

from audit.classify._labels import ANSWER_LABELS
from audit.csvio import truthy
from audit.report._charts import Interval, interval_plot
from audit.report._format import col, rate_row
from audit.report._headline import metric_view, summary_rows
from audit.report._load import RunFolder
from audit.report._topics_view import group_plot, scoped

__all__ = []


def valid_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs whose two sides are both answers (``valid`` column, else both labels answers)."""
    if pairs.empty:
        return pairs
    if "valid" in pairs.columns:
        return pairs[pairs["valid"].map(truthy)]
    return pairs[
        col(pairs, "label_a").isin(ANSWER_LABELS) & col(pairs, "label_b").isin(ANSWER_LABELS)
    ]


def by_lean(pairs: pd.DataFrame) -> list[Interval]:
    """Per lean: share of valid pairs where only that lean's side was refused."""
    lean_a, lean_b = col(pairs, "lean_a"), col(pairs, "lean_b")
    side = col(pairs, "refused_side").str.lower()
    asym = col(pairs, "asymmetric").map(truthy)
    rows = []
    for lean in sorted((set(lean_a) | set(lean_b)) - {""}):
        has = (lean_a == lean) | (lean_b == lean)
        hit = asym & (((side == "a") & (lean_a == lean)) | ((side == "b") & (lean_b == lean)))
        rows.append(rate_row(lean, int(hit.sum()), int(has.sum())))
    return rows


def by_group(pairs: pd.DataFrame, column: str) -> list[Interval]:
    """Asymmetric rate among valid pairs, per value of ``column`` (e.g. template)."""
    asym = col(pairs, "asymmetric").map(truthy)
    rows = []
    for value, group in asym.groupby(col(pairs, column)):
        rows.append(rate_row(str(value) or "(none)", int(group.sum()), len(group)))
    return sorted(
        rows, key=lambda r: (-(r.estimate if not math.isnan(r.estimate) else -1), r.label)
    )


def direction_counts(pairs: pd.DataFrame) -> dict[str, int]:
    """Counts of valid pairs by which side was refused."""
    side = col(pairs, "refused_side").str.lower()
    asym = col(pairs, "asymmetric").map(truthy)
    return {
        "a_only": int((asym & (side == "a")).sum()),
        "b_only": int((asym & (side == "b")).sum()),
        "both": int((side == "both").sum()),
        "total": len(pairs),
    }


def lean_metrics(summary: pd.DataFrame, target: str) -> list[dict[str, Any]]:
    """summary.csv's per-lean rows of a target (refusal rate by lean, lean net direction, test)."""
    rows = summary_rows(summary, target)
    keep = col(rows, "metric").str.match(
        r"^(refusal_rate_lean_.+|lean_net_direction|lean_mcnemar_exact_p)$"
    )
    return [metric_view(r, []) for r in rows[keep].to_dict("records")]


def lean_from_summary(summary: pd.DataFrame, target: str) -> list[Interval]:
    """summary.csv's per-lean refusal rates as chart rows: the very k, n and interval of the
    table under the chart (one source, so the chart and the table cannot disagree)."""
    rows = summary_rows(summary, target)
    rows = rows[col(rows, "metric").str.match(r"^refusal_rate_lean_.+$")]
    out = []
    for row in rows.to_dict("records"):
        view = metric_view(row, [])
        if view["estimate"] is None:
            continue
        lean = str(row["metric"])[len("refusal_rate_lean_"):]
        out.append(Interval(lean, view["estimate"], view["ci_low"], view["ci_high"],
                            note=f"{view['k']}/{view['n']}"))
    return out


def _lean_plot(run: RunFolder, mine: pd.DataFrame, target: str) -> Markup:
    """Refusals by lean: summary.csv's per-lean rows when it has them, else from pairs.csv."""
    rows = lean_from_summary(run.summary, target)
    if rows:
        scope = next((s for s in col(summary_rows(run.summary, target), "scope")
                      if s.startswith("valid pairs opposing")), "valid pairs")
        return interval_plot(
            rows,
            title=f"{target}: refusals of each lean's side ({scope}; the rows of the table below)",
            axis_label="% of that lean's sides refused, with the table's 95% interval",
        )
    return interval_plot(
        by_lean(mine),
        title=f"{target}: one-sided refusals by lean of the refused side",
        axis_label="% of valid pairs with this lean where only this side was refused",
    )


def _template_plot(run: RunFolder, pairs: pd.DataFrame, target: str) -> Markup:
    """Asymmetric rate by template: topics.csv's template rows (with BH flags), else from pairs."""
    title = f"{target}: asymmetric refusal rate by template"
    rows = scoped(run.topics, "template")
    rows = rows[
        (col(rows, "target") == target) & (col(rows, "metric") == "asymmetric_refusal_rate")
    ]
    if len(rows) and "template" in rows.columns:
        return group_plot(rows, "template", title, run.summary, target, "asymmetric_refusal_rate")[
            0
        ]
    return interval_plot(
        by_group(pairs, "template"),
        title=title,
        axis_label="% of valid pairs refused on exactly one side (Wilson 95% interval)",
    )


def asymmetry(run: RunFolder, targets: list[str]) -> list[dict[str, Any]]:
    """Per target: asymmetry by lean and by template (Wilson intervals, from pairs.csv)."""
    out: list[dict[str, Any]] = []
    if run.pairs.empty:
        return out
    valid = valid_pairs(run.pairs)
    for target in targets:
        mine = valid[col(valid, "target") == target]
        if mine.empty:
            continue
        lean = _lean_plot(run, mine, target)
        template = _template_plot(run, mine, target)
        out.append(
            {
                "target": target,
                "lean_svg": lean,
                "template_svg": template,
                "counts": direction_counts(mine),
                "lean_rows": lean_metrics(run.summary, target),
            }
        )
    return out
