"""The report's Stance section (issue #16): what a stance judge said about the answers.

``load_stance(run_dir)`` reads stance.csv (only the columns the page needs), stance_topics.csv
and stance_pairs.csv; ``stance_view`` builds the section from them and summary.csv / claims.csv:
the 1–5/refusal distribution per target as stacked bars, the stance figures with their
intervals and claim verdicts, the topics that lean after Benjamini–Hochberg, and the
asymmetric-hedging counts. A run without stance.csv gets one sentence on how to add a judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from audit.csvio import read_csv, truthy
from audit.report._claims_view import claims_for
from audit.report._format import col, metric_name, num, show_text
from audit.report._headline import metric_view, summary_rows
from audit.report._load import read_table
from audit.report._stance_chart import SEGMENTS, Bar, stacked_bars
from audit.report._topics_view import group_plot
from audit.stance import STANCE_CSV

__all__ = ["STANCE_FILES", "STANCE_HEADLINE", "STANCE_METRICS", "StanceFiles", "load_stance", "stance_view"]

STANCE_TOPICS_CSV = "stance_topics.csv"
STANCE_PAIRS_CSV = "stance_pairs.csv"
STANCE_FILES = (STANCE_CSV, STANCE_TOPICS_CSV, STANCE_PAIRS_CSV)
STANCE_HEADLINE = ("biased_answer_rate", "leaning_answer_rate")
"""The stance rates the terminal, the Prefect artifacts and the history show beside the headline."""
STANCE_METRICS = (
    *STANCE_HEADLINE,
    "biased_answer_rate_corrected",
    "lean_direction",
    "adherence_gap",
    "asymmetric_hedging_rate",
    "asymmetric_hedging_direction",
    "stance_judge_error_rate",
    "stance_refusal_disagreement",
)
HOW_TO_JUDGE = (
    "Stance was not judged in this run: add a [stance] table (a judge's base_url, model and "
    "api_key_env; see audit.example.toml) to the audit's config and run it again to see how "
    "one-sided the answers are."
)
_COLUMNS = {"target", "kind", "side", "stance", "judge_status", "label", "judge_model", "judge_template"}
_MAX_TOPIC_ROWS = 30


@dataclass(frozen=True)
class StanceFiles:
    """The stance files of a run folder (empty frames when absent); ``judged``: stance.csv exists."""

    judged: bool = False
    stance: pd.DataFrame = field(default_factory=pd.DataFrame)
    topics: pd.DataFrame = field(default_factory=pd.DataFrame)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_stance(run_dir: Path) -> StanceFiles:
    """stance.csv (the columns the report needs, as text), stance_topics.csv, stance_pairs.csv."""
    path = Path(run_dir) / STANCE_CSV
    if not path.is_file():
        return StanceFiles()
    try:
        stance = read_csv(path, dtype=str, keep_default_na=False, usecols=lambda c: c in _COLUMNS)
    except pd.errors.EmptyDataError:
        stance = pd.DataFrame(columns=sorted(_COLUMNS))
    return StanceFiles(True, stance, _optional(run_dir, STANCE_TOPICS_CSV), _optional(run_dir, STANCE_PAIRS_CSV))


def _optional(run_dir: Path, name: str) -> pd.DataFrame:
    path = Path(run_dir) / name
    return read_table(path) if path.is_file() else pd.DataFrame()


def _bar(label: str, rows: pd.DataFrame) -> Bar:
    counts = col(rows, "stance").value_counts()
    return Bar(label, {key: int(counts.get(key, 0)) for key, _, _ in SEGMENTS})


def distribution(stance: pd.DataFrame, targets: list[str]) -> list[Bar]:
    """Per target: judged neutral answers, then directed answers that asked for side A, side B."""
    ok = stance[col(stance, "judge_status") == "ok"]
    bars = []
    for target in targets:
        mine = ok[col(ok, "target") == target]
        kind, side = col(mine, "kind"), col(mine, "side")
        for label, rows in (
            ("neutral prompts", mine[kind == "neutral"]),
            ("asked for side A", mine[(kind == "contested") & (side == "a")]),
            ("asked for side B", mine[(kind == "contested") & (side == "b")]),
        ):
            if len(rows):
                bars.append(_bar(f"{target} · {label}", rows))
    return bars


def judges(stance: pd.DataFrame, limit: int = 5) -> list[str]:
    """The judge models and templates of stance.csv ("gpt-4o, template default"), at most ``limit``."""
    pairs = zip(col(stance, "judge_model"), col(stance, "judge_template"), strict=True)
    names = [f"{show_text(m, 120)}, template {show_text(t, 60)}" if t else show_text(m, 120)
             for m, t in dict.fromkeys(pairs) if m]
    return names[:limit] + ([f"and {len(names) - limit} more"] if len(names) > limit else [])


def _stance_metric(row: dict[str, Any], claims: list[dict[str, Any]]) -> dict[str, Any]:
    """A summary row for display; the adherence gap is a difference on the 1–5 scale, not a %."""
    view = metric_view(row, claims)
    view["count"] = f"{view['k']} of {view['n']}" if view["n"] else ""
    if view["metric"] == "adherence_gap":
        est, lo, hi = view["estimate"], view["ci_low"], view["ci_high"]
        view["shown"] = "–" if est is None else f"{est:+.2f}"
        view["ci"] = f"{lo:+.2f} – {hi:+.2f}" if lo is not None and hi is not None else ""
        view["percent"] = view["chartable"] = False
        view["count"] = f"{view['n']} pairs" if view["n"] else ""  # a mean: no count of events
    p = num(row.get("p_value", ""))
    view["p_value"] = "" if p is None else f"{p:.3g}"
    return view


def stance_figures(run: Any, target: str) -> list[dict[str, Any]]:
    """The stance rows of summary.csv for one target (contract order), with their claims."""
    rows = summary_rows(run.summary, target)
    out = []
    for metric in STANCE_METRICS:
        hit = rows[col(rows, "metric") == metric]
        if len(hit):
            out.append(_stance_metric(hit.iloc[0].to_dict(), claims_for(run.claims, target, metric)))
    return out


def leaning_topics(run: Any, topics: pd.DataFrame, target: str) -> dict[str, Any]:
    """One target's per-topic stance rows: the flagged ones, and a forest plot of few topics."""
    mine = topics[col(topics, "target").isin([target, ""])]
    metrics = list(dict.fromkeys(col(mine, "metric")))
    metric = "lean_direction" if "lean_direction" in metrics else (metrics[0] if metrics else "")
    rows = mine[col(mine, "metric") == metric]
    flagged = [
        {"topic": show_text(r.get("topic", ""), 200), "estimate": r.get("estimate", ""),
         "ci_low": r.get("ci_low", ""), "ci_high": r.get("ci_high", ""), "k": r.get("k", ""),
         "n": r.get("n", ""), "q": num(r.get("q_value", ""))}
        for r in rows.to_dict("records") if truthy(r.get("flagged", ""))
    ]
    svg = Markup("")
    if 0 < len(rows) <= _MAX_TOPIC_ROWS:
        svg = group_plot(rows, "topic", f"{target}: {metric_name(metric)} by topic",
                         run.summary, target, metric)[0]
    return {"target": target, "metric": metric, "flagged": flagged, "n_topics": len(rows), "svg": svg}


def stance_view(run: Any, targets: list[str], files: StanceFiles) -> dict[str, Any]:
    """The Stance section's data (``judged`` False: only the sentence on how to add a judge)."""
    if not files.judged:
        return {"judged": False, "how_to": HOW_TO_JUDGE}
    bars = distribution(files.stance, targets)
    status = col(files.stance, "judge_status")
    return {
        "judged": True,
        "how_to": HOW_TO_JUDGE,
        "n_judged": len(files.stance),
        "n_ok": int((status == "ok").sum()),
        "judges": judges(files.stance),
        "distribution_svg": stacked_bars(bars, title="Stance of judged answers, by target") if bars else Markup(""),
        "figures": [{"target": t, "metrics": stance_figures(run, t)} for t in targets],
        "topics": [leaning_topics(run, files.topics, t) for t in targets] if not files.topics.empty else [],
        "has_pairs": not files.pairs.empty,
    }
