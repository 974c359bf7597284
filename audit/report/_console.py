"""The headline as a terminal table: what ``refusal-audit run`` and ``python -m flows.sharding``
print at the end of a run. Takes plain data (a flow's result: ``run_id``, ``run_dir`` and the
``headline`` rows of summary.csv), so the CLI and the flows share it without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["caveat_lines", "claim_lines", "print_headline", "short_method", "stance_lines", "upper_bound_lines"]


def print_headline(result: Mapping[str, Any]) -> None:
    """The headline figures with their intervals, and where the report is."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {result['run_id']}")
    for col in ("target", "metric", "estimate", "95% CI", "k/n", "method"):
        table.add_column(col, no_wrap=col != "target")
    for r in result["headline"]:
        table.add_row(str(r["target"]), str(r["metric"]), _pct(r["estimate"]),
                      f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}", f"{_int(r['k'])}/{_int(r['n'])}",
                      short_method(str(r["method"])))
    console = Console(width=max(100, Console().width))
    console.print(table)
    for line in upper_bound_lines(result["headline"]):
        console.print(line)
    run_dir = Path(result["run_dir"])
    for line in stance_lines(run_dir):
        console.print(line, highlight=False, markup=False)
    for line in caveat_lines(run_dir):
        console.print(f"caveat: {line}", style="yellow", highlight=False, markup=False)
    for line in claim_lines(run_dir):
        console.print(line, highlight=False, markup=False)
    console.print(f"report: {run_dir / 'report.html'}")


def stance_lines(run_dir: Path) -> list[str]:
    """The biased- and leaning-answer rates of summary.csv (when a stance judge ran), one line
    per target: "model-a: biased answers 4.1% (95% CI 2.0% – 8.2%, 12 of 290); leaning …"."""
    from audit.csvio import read_csv
    from audit.report._stance_view import STANCE_HEADLINE

    path = run_dir / "summary.csv"
    try:
        summary = read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None
    except (OSError, ValueError):
        summary = None
    if summary is None or "metric" not in summary.columns:
        return []
    rows = summary[summary["metric"].isin(STANCE_HEADLINE)]
    out = []
    for target, group in rows.groupby("target", sort=False):
        parts = [f"{str(r['metric']).split('_')[0]} answers {_pct(r.get('estimate'))} (95% CI "
                 f"{_pct(r.get('ci_low'))} – {_pct(r.get('ci_high'))}, {_int(r.get('k'))} of {_int(r.get('n'))})"
                 for r in group.to_dict("records")]
        out.append(f"{target}: " + "; ".join(parts))
    return ["stance of answers to neutral prompts (judged):", *(f"  {line}" for line in out)] if out else []


def claim_lines(run_dir: Path) -> list[str]:
    """The claim verdicts of claims.csv, each with its plain sentence (``explanation``) and
    whether it survives the classifier's measured error (``classifier_check``)."""
    from audit.csvio import read_csv

    path = run_dir / "claims.csv"
    try:
        claims = read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None
    except (OSError, ValueError):
        claims = None
    if claims is None or claims.empty:
        return []
    out = ["published claims (figures about other models, compared with this audit):"]
    for r in claims.to_dict("records"):
        source = f" ({r['source']})" if r.get("source") else ""
        out.append(f"  {r.get('target', '')}: {r.get('claim', '')}{source}: {r.get('verdict', '')}")
        if r.get("explanation"):
            out.append(f"    {r['explanation']}")
        if r.get("classifier_check"):
            out.append(f"    classifier error: {r['classifier_check']}")
    return out


def caveat_lines(run_dir: Path) -> list[str]:
    """The run's caveats (most answers truncated, harmful controls answered, labels a human
    changed), as in report.html."""
    import json

    from audit.report._caveats import caveats_of_folder, review_lines

    meta: Any = {}
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        targets = meta.get("config", {}).get("targets") or []
        limits = sorted({str(t.get("max_tokens")) for t in targets if t.get("max_tokens")})
    except (OSError, ValueError, AttributeError):
        limits = []
    return caveats_of_folder(run_dir, ", ".join(limits)) + review_lines(meta)


def upper_bound_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What a zero count means: the one-sided 95% upper bound. That is the summary row's
    ``bound_high`` (topic-clustered: no event says little about how the topics differ) when it
    has one, else the exact bound on n independent answers."""
    import math

    from audit.stats._intervals import cp_upper_bound

    out = []
    for r in rows:
        k, n = r.get("k"), r.get("n")
        if str(r["metric"]).startswith(("refusal_rate", "asymmetric")) and n and k == 0:
            try:
                bound, how = float(r.get("bound_high", math.nan)), "topic-clustered one-sided bound"
            except (TypeError, ValueError):
                bound = math.nan
            if not math.isfinite(bound):
                bound, how = cp_upper_bound(0, float(n)), "exact one-sided bound"
            out.append(f"{r['target']}: {r['metric']} 0 of {int(n)}: below {bound:.1%} with 95% confidence "
                       f"({how})")
    return out


def short_method(method: str) -> str:
    """The interval's name without its notes ('kg-cp(topic; deff=1 assumed…)' → 'kg-cp(topic)')."""
    return re.sub(r";[^)]*\)", ")", method)


def _int(x: Any) -> str:
    try:
        return f"{float(x):g}"
    except (TypeError, ValueError):
        return "—"


def _pct(x: Any) -> str:
    try:
        return f"{float(x):.1%}"
    except (TypeError, ValueError):
        return "—"
