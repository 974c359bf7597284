"""The data behind report.html: everything the page shows, built from a run folder.

``report_context(run)`` turns a ``RunFolder`` (``audit.report._load``) into the plain dicts,
lists and inline SVG charts that ``audit/report/templates/report.html.j2`` renders
(``audit.report._html`` does the rendering). The sections come from the ``_*_view`` modules
and ``_header`` / ``_headline``; the drift and comparison tables are built here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from audit.csvio import truthy
from audit.report._asymmetry_view import asymmetry
from audit.report._caveats import caveats, review_lines
from audit.report._charts import fmt_value
from audit.report._format import MAX_TEXT, col, metric_name, num, show_text
from audit.report._header import header, run_alerts
from audit.report._headline import headline, headline_chart, summary_table
from audit.report._load import RunFolder
from audit.report._pairs_view import MAX_HEDGED, MAX_PAIRS, hedged_viewer, pair_viewer
from audit.report._responses_view import by_category, controls, non_answers
from audit.report._stance_view import load_stance, stance_view
from audit.report._topics_view import forest_plots

__all__ = ["report_context"]


def report_context(run: RunFolder, max_pairs: int = MAX_PAIRS) -> dict[str, Any]:
    """Everything report.html shows, built from the run folder."""
    head = header(run)
    targets = [t["name"] for t in head["targets"]]
    blocks = headline(run, targets)
    stance = load_stance(run.path)
    return {
        "h": head,
        "headline": blocks,
        "caveats": caveats(run.responses, head["truncation"]["max_tokens"]) + review_lines(run.run),
        "headline_svg": headline_chart(blocks),
        "summary": summary_table(run),
        "forests": forest_plots(run, targets),
        "asymmetry": asymmetry(run, targets),
        "categories": by_category(run, targets),
        "controls": controls(run, targets),
        "non_answers": non_answers(run, targets),
        "viewer": pair_viewer(run, max_pairs, stance.pairs),
        "stance": stance_view(run, targets, stance),
        "hedged": hedged_viewer(run, stance.pairs, min(max_pairs, MAX_HEDGED)),
        "comparison": _generic_table(run.comparison),
        "drift": drift_view(run),
        "missing": run.missing,
        "files": _present_files(run.path),
        "methods": sorted(set(col(run.summary, "method")) - {""}),
        "has_claims": not run.claims.empty,
        "max_text": MAX_TEXT,
    }


_DRIFT_LIMIT = 60


def _signed_pp(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:+.1f} pp"


def _drift_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One drift.csv row for the small drift table (proportions in %, changes in pp)."""
    lo, hi = num(row.get("ci_low", "")), num(row.get("ci_high", ""))
    p, p_holm = num(row.get("p_value", "")), num(row.get("p_holm", ""))
    n_shared, unit = num(row.get("n_shared", "")), show_text(row.get("unit", ""), 60)
    design = show_text(row.get("design", ""), 40)
    if design == "paired" and n_shared is not None:
        design = f"paired on {n_shared:,.0f} {unit}".strip()
    return {
        "target": show_text(row.get("target", ""), 200),
        "metric": metric_name(str(row.get("metric", ""))),
        "previous_run": show_text(row.get("previous_run", ""), 200),
        "design": design,
        "before": fmt_value(num(row.get("before", ""))),
        "now": fmt_value(num(row.get("now", ""))),
        "change": _signed_pp(num(row.get("change", ""))),
        "ci": f"{_signed_pp(lo)} to {_signed_pp(hi)}" if lo is not None and hi is not None else "",
        "test": show_text(row.get("test", ""), 80),
        "p": "–" if p is None else f"{p:.3g}",
        "p_holm": "–" if p_holm is None else f"{p_holm:.3g}",
        "alert": truthy(row.get("significant", "")) or truthy(row.get("breach", "")),
        "detail": show_text(row.get("detail", ""), 300),
    }


def drift_view(run: RunFolder) -> dict[str, Any]:
    """Drift since the previous run: run.json's alerts and notes, and drift.csv as a small table."""
    head = run_alerts(run.run)
    rows = [_drift_row(r) for r in run.drift.head(_DRIFT_LIMIT).to_dict("records")]
    has_file = (run.path / "drift.csv").is_file()
    return {
        "shown": has_file or isinstance(run.run.get("drift"), Mapping),
        "file": has_file,
        "alerts": head[1],
        "notes": head[2],
        "rows": rows,
        "total": len(run.drift),
    }


def _generic_cell(value: object) -> str:
    text = show_text(value, 300)
    n = num(text)
    return f"{n:.4g}" if n is not None and "." in text else text


def _generic_table(df: pd.DataFrame, limit: int = 200) -> dict[str, Any]:
    rows = [[_generic_cell(v) for v in row] for row in df.head(limit).itertuples(index=False)]
    return {"columns": list(df.columns), "rows": rows, "total": len(df)}


_FILES: tuple[str, ...] = ("responses.csv", "summary.csv", "pairs.csv", "topics.csv", "claims.csv")
_FILES += ("comparison.csv", "drift.csv", "run.json", "prompts.jsonl", "responses.jsonl")


def _present_files(run_dir: Path) -> list[str]:
    """Every file of the run folder (the contract's files first, then any other, such as the
    demo's local-server.log or judge.jsonl), but not the page itself or hidden temp files."""
    try:
        present = sorted(
            p.name for p in run_dir.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name != "report.html"
        )
    except OSError:
        return []
    return [n for n in _FILES if n in present] + [n for n in present if n not in _FILES]
