"""The run history: ``reports/history.csv`` (one row per run × target × headline metric) and
``reports/index.html`` (every run, and each headline metric's trend with its interval band).

``append_history(run_dir, reports_root)`` upserts a run's rows: re-rendering a run replaces
its rows instead of adding more, and the file is rewritten atomically (temp file + rename)
under an advisory lock, so two runs finishing together cannot lose each other's rows.
Trends are keyed by target and prompt-set sha256: a changed prompt set starts a new series.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from audit.csvio import atomic_file, write_csv
from audit.errors import InputError
from audit.report._charts import RefLine, TrendPoint, fmt_value, trend_plot
from audit.report._claims_view import claim_reference
from audit.report._format import metric_name, num
from audit.report._header import header, run_alerts, run_status
from audit.report._headline import headline, metric_view, summary_rows
from audit.report._html import REPORT_NAME, render_page
from audit.report._load import RunFolder, load_run, read_table

__all__ = [
    "HISTORY_COLUMNS",
    "HISTORY_NAME",
    "INDEX_NAME",
    "append_history",
    "history_rows",
    "read_history",
    "render_index",
]

HISTORY_NAME = "history.csv"
INDEX_NAME = "index.html"
HISTORY_COLUMNS = [
    "run_id",
    "run_dir",
    "finished_at",
    "target",
    "model",
    "prompt_set",
    "prompt_set_version",
    "prompt_set_sha256",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "k",
    "n",
    "method",
    "claim",
    "claim_reference",
    "verdict",
    "tool_version",
    "status",
    "alerts",
]
_BACKFILLED = ("status", "alerts")  # added later: older history.csv files lack them


def _relative(run_dir: Path, reports_root: Path) -> str:
    return Path(os.path.relpath(run_dir.resolve(), reports_root.resolve())).as_posix()


def _claim_fields(claims: list[dict[str, Any]]) -> dict[str, Any]:
    refs = [c["reference"] for c in claims if c["reference"] is not None]
    return {
        "claim": " | ".join(str(c["claim"]) for c in claims),
        "claim_reference": refs[0] if refs else "",
        "verdict": " | ".join(str(c["verdict"]) for c in claims),
    }


def _rows_of(run: RunFolder, run_dir: str) -> list[dict[str, Any]]:
    head = header(run)
    models = {t["name"]: t["model"] for t in head["targets"]}
    ps = head["prompt_set"]
    breaches, drift_alerts, _ = run_alerts(run.run)
    rows = []
    for block in _with_stance(run, headline(run, list(models))):
        for m in block["metrics"]:
            if m["missing"]:
                continue
            rows.append(
                {
                    "run_id": head["run_id"],
                    "run_dir": run_dir,
                    "finished_at": head["finished_at"],
                    "target": block["target"],
                    "model": models.get(block["target"], ""),
                    "prompt_set": ps["name"],
                    "prompt_set_version": ps["version"],
                    "prompt_set_sha256": ps["sha256"],
                    "metric": m["metric"],
                    "estimate": m["estimate"],
                    "ci_low": m["ci_low"],
                    "ci_high": m["ci_high"],
                    "k": m["k_value"],  # numbers, not the view's "1,500"
                    "n": m["n_value"],
                    "method": m["method"],
                    **_claim_fields(m["claims"]),
                    "tool_version": head["tool_version"],
                    "status": head["status"],
                    "alerts": "; ".join(breaches + drift_alerts),
                }
            )
    return rows


def _with_stance(run: RunFolder, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The headline blocks plus each target's biased- and leaning-answer rates (when a stance
    judge ran), so the history and its trends follow them too."""
    from audit.report._claims_view import claims_for
    from audit.report._stance_view import STANCE_HEADLINE

    for block in blocks:
        rows = summary_rows(run.summary, block["target"])
        shown = {m["metric"] for m in block["metrics"]}
        for metric in (m for m in STANCE_HEADLINE if m not in shown):
            hit = rows[rows["metric"].astype(str) == metric]
            if len(hit):
                view = metric_view(hit.iloc[0].to_dict(), claims_for(run.claims, block["target"], metric))
                block["metrics"].append({**view, "missing": False})
    return blocks


def history_rows(run_dir: Path, reports_root: Path) -> pd.DataFrame:
    """The history rows of one run folder (one per target × headline metric present)."""
    run = load_run(Path(run_dir), only=("claims.csv",))
    rows = _rows_of(run, _relative(Path(run_dir), Path(reports_root)))
    df = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    for name in ("k", "n"):  # as the numbers' own text: 1500 (not "1,500", nor "1500.0" beside a gap)
        df[name] = pd.Series(["" if r[name] is None else str(r[name]) for r in rows], dtype=object)
    return df


def read_history(reports_root: Path) -> pd.DataFrame:
    """``history.csv`` as text cells (an empty frame with the columns when there is none)."""
    path = Path(reports_root) / HISTORY_NAME
    if not path.is_file():
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    df = read_table(path, ("run_id", "target", "metric", "estimate"))
    for name in _BACKFILLED:
        if name not in df.columns:
            df[name] = ""
    return df


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An advisory exclusive lock on ``path`` + '.lock' (POSIX; a no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    extra = [c for c in df.columns if c not in HISTORY_COLUMNS]
    when = pd.to_datetime(df["finished_at"], utc=True, errors="coerce", format="ISO8601")
    df = df.assign(_when=when).sort_values(
        ["_when", "run_id", "target", "metric"], kind="stable", na_position="last"
    )
    return df[HISTORY_COLUMNS + extra].reset_index(drop=True)


def append_history(run_dir: Path, reports_root: Path) -> Path:
    """Upsert one run's rows into ``<reports_root>/history.csv``; return the file's path."""
    reports_root = Path(reports_root)
    reports_root.mkdir(parents=True, exist_ok=True)
    new = history_rows(Path(run_dir), reports_root)
    path = reports_root / HISTORY_NAME
    with _locked(path):
        old = read_history(reports_root)
        old = old[~old["run_id"].isin(set(new["run_id"]))]
        frames = [f for f in (old, new.astype(object)) if not f.empty]
        merged = pd.concat(frames, ignore_index=True) if frames else new
        write_csv(
            _ordered(
                merged.reindex(columns=list(dict.fromkeys(HISTORY_COLUMNS + list(merged.columns))))
            ),
            path,
        )
    return path


# ---------------------------------------------------------------- index.html


def _discovered(reports_root: Path, known: set[str]) -> list[pd.DataFrame]:
    """History rows of run folders under ``reports_root`` not yet in history.csv (not written)."""
    frames = []
    for child in sorted(p for p in reports_root.iterdir() if p.is_dir()):
        if not ((child / "run.json").is_file() and (child / "summary.csv").is_file()):
            continue
        try:
            rows = history_rows(child, reports_root)
        except InputError:
            continue
        if not rows.empty and not set(rows["run_id"]) & known:
            frames.append(rows.astype(object))
    return frames


def all_runs(reports_root: Path) -> pd.DataFrame:
    """history.csv plus the run folders found on disk that it does not list yet."""
    history = read_history(reports_root)
    frames = [
        f for f in [history, *_discovered(reports_root, set(history["run_id"]))] if not f.empty
    ]
    return _ordered(pd.concat(frames, ignore_index=True)) if frames else history


def _report_link(reports_root: Path, run_dir: str) -> str:
    """A relative, percent-encoded link to a run's report.html, or '' when it does not exist."""
    if not run_dir or not (reports_root / run_dir / REPORT_NAME).is_file():
        return ""
    return quote(f"{run_dir}/{REPORT_NAME}", safe="/")


def _cell(row: dict[str, Any]) -> str:
    est = num(row.get("estimate"))
    lo, hi = num(row.get("ci_low")), num(row.get("ci_high"))
    ci = f" [{fmt_value(lo)} – {fmt_value(hi)}]" if lo is not None and hi is not None else ""
    return fmt_value(est) + ci


def claim_verdicts(row: dict[str, Any]) -> list[str]:
    """Each claim of a history row with its verdict ("refusal_rate < 2%: contradicts the claim").

    history.csv joins a metric's claims and their verdicts with " | " in the same order; a
    verdict is never shown without the claim it judges.
    """
    claims = [c for c in str(row.get("claim", "") or "").split(" | ") if c.strip()]
    verdicts = [v for v in str(row.get("verdict", "") or "").split(" | ") if v.strip()]
    if len(claims) == len(verdicts):
        return [f"{c}: {v}" for c, v in zip(claims, verdicts, strict=True)]
    joined = " | ".join(claims)
    return [f"{joined}: {' | '.join(verdicts)}"] if verdicts and joined else verdicts


def split_alerts(text: str) -> list[str]:
    """The alerts of a history row: breaches first, then drift alerts (each starts "drift: ").

    A drift alert may itself hold "; ", so the cell is cut only before "drift: " and, in the
    breaches part (one per threshold, no "; " inside), at every "; ".
    """
    out: list[str] = []
    for part in re.split(r"; (?=drift: )", text.strip()) if text.strip() else []:
        out += [part] if part.startswith("drift: ") else [a for a in part.split("; ") if a.strip()]
    return out


def _status_cell(row: dict[str, Any]) -> dict[str, Any]:
    """The run's status in words (failed runs marked) and its alerts, from a history row."""
    alerts = split_alerts(str(row.get("alerts", "") or ""))
    status = str(row.get("status", "") or "")
    drift = [a for a in alerts if a.startswith("drift: ")]
    breaches = [a for a in alerts if not a.startswith("drift: ")]
    view = run_status(status, breaches, drift) if status or alerts else None
    return {
        "status": view["words"] if view else "",
        "status_class": view["css"] if view else "muted",
        "failed": bool(view and view["failed"]),
        "alerts": alerts,
    }


def runs_table(df: pd.DataFrame, reports_root: Path, metrics: list[str]) -> list[dict[str, Any]]:
    """One row per run × target, newest first, with each headline metric and its verdicts."""
    out = []
    for (run_id, target), group in df.groupby(["run_id", "target"], sort=False):
        first = group.iloc[0].to_dict()
        by_metric = {r["metric"]: r for r in group.to_dict("records")}
        out.append(
            {
                "run_id": run_id,
                "target": target,
                "model": first.get("model", ""),
                "finished_at": first.get("finished_at", ""),
                "link": _report_link(reports_root, str(first.get("run_dir", ""))),
                "prompt_set": f"{first.get('prompt_set', '')}"
                f" v{first.get('prompt_set_version', '')}",
                "sha": str(first.get("prompt_set_sha256", ""))[:12],
                **_status_cell(first),
                "cells": [
                    (_cell(by_metric[m]), claim_verdicts(by_metric[m]))
                    if m in by_metric
                    else ("–", [])
                    for m in metrics
                ],
            }
        )
    return list(reversed(out))


def _trend(group: pd.DataFrame, metric: str, title: str) -> Any:
    rows = group[group["metric"] == metric]
    points = [
        TrendPoint(
            when.to_pydatetime(),
            num(r["estimate"]) or 0.0,
            num(r["ci_low"]),
            num(r["ci_high"]),
            f"{r['run_id']} · {r.get('model', '')}",
        )
        for when, r in zip(rows["_when"], rows.to_dict("records"), strict=True)
        if not pd.isna(when)
    ]
    if not points:
        return None
    refs = []
    latest = rows.iloc[-1].to_dict()
    ref, label = claim_reference(
        {"reference": latest.get("claim_reference", ""), "claim": latest.get("claim", "")}
    )
    if ref is not None:
        refs.append(RefLine(ref, label))
    return trend_plot(points, title=title, axis_label="rate (%)", refs=refs)


def trends(df: pd.DataFrame, metrics: list[str]) -> list[dict[str, Any]]:
    """Per target × prompt-set sha256: one trend chart per headline metric."""
    df = df.assign(
        _when=pd.to_datetime(df["finished_at"], utc=True, errors="coerce", format="ISO8601")
    )
    out = []
    for (target, sha), group in df.groupby(["target", "prompt_set_sha256"], sort=True):
        first = group.iloc[0]
        charts = [c for c in (_trend(group, m, metric_name(m)) for m in metrics) if c is not None]
        out.append(
            {
                "target": target,
                "prompt_set": f"{first['prompt_set']} v{first['prompt_set_version']}",
                "sha": str(sha),
                "runs": int(group["run_id"].nunique()),
                "charts": charts,
            }
        )
    return out


def render_index(reports_root: Path) -> Path:
    """Write ``<reports_root>/index.html``: all runs with links, and trends with CI bands."""
    reports_root = Path(reports_root)
    if not reports_root.is_dir():
        raise InputError(
            reports_root, None, "no such reports folder", "give --reports-root, e.g. reports"
        )
    df = all_runs(reports_root)
    metrics = list(
        dict.fromkeys(
            [
                "refusal_rate",
                "refusal_rate_broad",
                "asymmetric_refusal_rate",
                *df["metric"].astype(str),
            ]
        )
    )
    metrics = [m for m in metrics if m in set(df["metric"])]
    context = {
        "runs": runs_table(df, reports_root, metrics),
        "metric_names": [metric_name(m) for m in metrics],
        "trends": trends(df, metrics) if not df.empty else [],
        "n_runs": int(df["run_id"].nunique()),
    }
    out = reports_root / INDEX_NAME
    with atomic_file(out) as fh:
        fh.write(render_page("index.html.j2", context))
    return out
