"""After labelling: the statistics tables, the CSVs, run.json, thresholds, comparisons between
targets, and the reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from audit.config import AuditConfig
from audit.errors import InputError
from audit.run._label import label_responses
from audit.run._plan import RunPlan, now_iso, read_run_json, resume_plan, write_run_json
from audit.run._responses import RESPONSE_COLUMNS, RESPONSES_CSV
from audit.run._stance_stats import (
    StanceTables,
    stance_tables,
    with_ratio_claims,
    with_stance_rows,
    write_stance_tables,
)

if TYPE_CHECKING:
    from audit.stats._drift import DriftReport

REPORTING = "reporting"
"""run.json ``status`` from the statistics to the reports: the run's ``result`` (``completed``,
``failed_thresholds``, ``failed_drift``) becomes its status only once report.html exists."""


@dataclass
class Tables:
    """The statistics of a run, ready to write."""

    summary: pd.DataFrame
    pairs: pd.DataFrame
    topics: pd.DataFrame
    claims: pd.DataFrame
    stance: StanceTables | None = None
    """stance_topics.csv and stance_pairs.csv (their summary rows are in ``summary``); None
    when stance was not judged."""
    units: Mapping[str, Mapping[str, pd.DataFrame]] = field(default_factory=dict)
    """With several targets, each target's metric units (``audit_tables(targets=...)``): the
    ratio claims and comparison.csv share them instead of normalising every target again."""


def read_calibration(path: str | None) -> dict[str, Any] | None:
    """The classifier calibration JSON (sensitivity, specificity, gold counts), if configured."""
    if not path:
        return None
    p = Path(path)
    try:
        data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(p, None, f"cannot read the calibration file ({exc})",
                         "write it with 'refusal-audit classifier evaluate --save-calibration'") from None
    return data


def compute_tables(plan: RunPlan, responses: pd.DataFrame) -> Tables:
    """Summary, pairs, topics and claims tables from the labelled responses."""
    from audit.run._stance import judge_stances
    from audit.stats import _claims as claims
    from audit.stats import _tables as metrics
    from audit.stats._misclassification import claims_calibration

    judge_stances(plan, responses)  # stance.csv when [stance] is configured (issue #16); None otherwise
    refs = claims.load_references(plan.config.references)
    own = read_calibration(plan.config.calibration)  # corrects summary.csv; the shipped one never does
    labels = [x.label for x in plan.config.targets]
    t = metrics.audit_tables(responses, calibration=own, compact_pairs=True,
                             targets=labels if len(labels) > 1 else ())
    stance = stance_tables(plan.run_dir, read_calibration(getattr(plan.config.stance, "calibration", None)))
    summary = with_stance_rows(t.summary, stance)  # unchanged without stance.csv
    check = claims_calibration(own, plan.config.calibration, plan.config.classifier)  # own, else shipped
    verdicts = claims.evaluate_claims(summary, refs, models={x.label: x.model for x in plan.config.targets},
                                      calibration=check)
    verdicts = with_ratio_claims(verdicts, responses, plan.config.references, labels, stance,
                                 t.units)  # one target: unchanged
    return Tables(summary=summary, pairs=t.pairs, topics=t.topics, claims=verdicts, stance=stance,
                  units=t.units)


def write_tables(plan: RunPlan, responses: pd.DataFrame, tables: Tables) -> None:
    """Write the CSVs of a run: the statistics tables, and responses.csv only when ``responses``
    is a full frame (every ``RESPONSE_COLUMNS``); ``label_responses`` streams it itself."""
    from audit.csvio import write_csv

    if set(RESPONSE_COLUMNS) <= set(responses.columns):  # a full frame (a caller's own)
        write_csv(responses, plan.run_dir / RESPONSES_CSV)
    # else: the compact frame of label_responses, which has written responses.csv already
    write_csv(tables.summary, plan.run_dir / "summary.csv")
    write_csv(tables.pairs, plan.run_dir / "pairs.csv")
    write_csv(tables.topics, plan.run_dir / "topics.csv")
    write_csv(tables.claims, plan.run_dir / "claims.csv")
    write_stance_tables(plan.run_dir, tables.stance)


def render_reports(plan: RunPlan) -> Path:
    """report.html (showing the run's final status), then that status in run.json, then the
    run's rows in the reports folder's history: a run.json that says ``completed`` (or
    ``failed_…``) always has its report.html beside it, whatever the moment of a kill."""
    from audit.report import _history as history
    from audit.report import _html as report_html

    meta = read_run_json(plan.run_dir)
    final = meta.get("result") if meta.get("status") == REPORTING else None
    path = report_html.render_report(plan.run_dir, status=final)
    if final:
        write_run_json(plan, {"status": final})
    history.append_history(plan.run_dir, plan.run_dir.parent)
    return path


def complete_reports(run_dir: Path) -> Path | None:
    """The reports of a run stopped between its statistics and its reports (run.json status
    ``reporting``), and its final status; None (nothing done) for any other run folder."""
    try:
        meta = read_run_json(run_dir)
    except InputError:
        return None  # not a run folder: rendering the report says so
    if not isinstance(meta, dict) or meta.get("status") != REPORTING:
        return None
    return render_reports(resume_plan(run_dir))


def headline(tables: Tables) -> pd.DataFrame:
    """The headline rows of the summary (one per target × headline metric)."""
    s = tables.summary
    keep = s["metric"].isin(["refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate", "error_rate"])
    if "headline" in s.columns:
        keep &= s["headline"].astype(bool)
    return s[keep]


def check_thresholds(config: AuditConfig, tables: Tables) -> list[str]:
    """Breaches of the configured thresholds, judged on the CI (lower bound above the limit)."""
    limits = dict(config.thresholds)
    if config.max_error_rate is not None:
        limits.setdefault("max_error_rate", config.max_error_rate)
    rows = headline(tables)
    problems = []
    for key, limit in limits.items():
        metric = key.removeprefix("max_").replace("asymmetric_rate", "asymmetric_refusal_rate")
        for _, r in rows[rows["metric"] == metric].iterrows():
            value = r["estimate"] if metric == "error_rate" else r["ci_low"]
            if pd.notna(value) and value > limit:
                problems.append(f"{r['target']}: {metric} {r['estimate']:.2%} (CI low {r['ci_low']:.2%}) exceeds {key} = {limit:g}")
    return problems


ERRORS_DOMINATE = 0.5
"""Above this share of API errors a target is warned about even when ``max_error_rate`` allows it."""


def error_warnings(config: AuditConfig, responses: pd.DataFrame) -> list[str]:
    """One line per target whose share of API errors is above ``max_error_rate`` (or above
    ``ERRORS_DOMINATE`` when the limit is higher or off): how many failed, and the commonest
    error type. The CLI prints them on stderr; run.json keeps them (``warnings``)."""
    if responses.empty or "error" not in responses.columns:
        return []
    limit = config.thresholds.get("max_error_rate", config.max_error_rate)
    above = min(ERRORS_DOMINATE if limit is None else limit, ERRORS_DOMINATE)
    out = []
    failed, sizes = _failed_requests(responses), responses["target"].value_counts()
    for target in responses["target"].dropna().unique():  # in order of appearance
        errors, n = failed[1][failed[0] == target], int(sizes[target])
        if not n or len(errors) / n <= above:
            continue
        kinds = errors.str.split(":", n=1).str[0].value_counts()
        out.append(f"{len(errors) / n:.0%} of requests to '{target}' failed ({len(errors):,} of "
                   f"{n:,}; most often {kinds.index[0]}, {kinds.iloc[0]:,} times): the figures rest on "
                   f"the {n - len(errors):,} answers — see the errors in report.html; once the endpoint "
                   "is fixed, resume with --retry-errors to send them again")
    return out


def _failed_requests(responses: pd.DataFrame) -> tuple[Any, pd.Series]:
    """The target (an array) and the error text (a Series) of each request with an error, in
    row order: only these few rows are copied (grouping the frame by target would copy every
    column of every target)."""
    column = responses["error"]
    keep = column.notna().to_numpy()
    errors = pd.Series(column.array[keep]).astype(str)
    blank = (errors != "").to_numpy()
    return responses["target"].array[keep][blank], errors[blank].reset_index(drop=True)


def write_comparisons(plan: RunPlan, responses: pd.DataFrame,
                      units: Mapping[str, Mapping[str, pd.DataFrame]] | None = None) -> pd.DataFrame | None:
    """With several targets, comparison.csv: every pair of targets, paired on the same prompts.
    ``units``: each target's metric units (``Tables.units``); built here when not given."""
    from itertools import combinations

    from audit.csvio import write_csv
    from audit.stats._compare import compare_units, targets_units

    labels = [t.label for t in plan.config.targets]
    if len(labels) < 2 or responses.empty:
        return None
    if not units or not set(labels) <= set(units):
        units = targets_units(responses, labels)  # called on its own: normalised and paired once
    table = pd.concat([compare_units(units[a], units[b], a, b) for a, b in combinations(labels, 2)],
                      ignore_index=True)
    write_csv(table, plan.run_dir / "comparison.csv")
    return table


def record_run(plan: RunPlan, responses: pd.DataFrame, tables: Tables) -> list[str]:
    """Write the CSVs (comparison.csv too, with several targets) and run.json; return threshold
    breaches (empty when all is well). Reports are rendered after, by ``render_reports``, which
    turns run.json's status from ``reporting`` into the ``result`` written here."""
    write_tables(plan, responses, tables)
    write_comparisons(plan, responses, tables.units)
    breaches = check_thresholds(plan.config, tables)
    counts = responses["label"].astype(object).value_counts().to_dict() if len(responses) else {}
    write_run_json(plan, {"finished_at": now_iso(), "status": REPORTING,
                          "result": "failed_thresholds" if breaches else "completed",
                          "answers": len(responses), "labels": counts, "breaches": breaches,
                          "warnings": error_warnings(plan.config, responses)})
    return breaches


def finish_run(plan: RunPlan, responses: pd.DataFrame, tables: Tables, started: str | None = None) -> list[str]:
    """Write CSVs, run.json and reports; return threshold breaches (empty when all is well)."""
    breaches = record_run(plan, responses, tables)
    render_reports(plan)
    return breaches


def check_run_drift(plan: RunPlan) -> DriftReport:
    """Compare with the previous run of each target (same model and endpoint) on the same prompt
    set; write drift.csv and the alerts into run.json (status ``failed_drift`` when the run had
    passed otherwise)."""
    from audit.stats import _drift as dr

    alpha = getattr(plan.config, "drift_alpha", dr.DEFAULT_ALPHA)
    report = dr.check_drift(plan.run_dir, plan.config.thresholds, alpha=alpha,
                            fail_on=getattr(plan.config, "drift_fail_on", "any"))
    dr.write_drift(report, plan.run_dir)
    updates: dict[str, Any] = {"drift": {"alerts": report.alerts, "notes": report.notes}}
    if report.alerts and read_run_json(plan.run_dir).get("result") == "completed":
        updates["result"] = "failed_drift"  # the run's status once its reports exist
    write_run_json(plan, updates)
    return report


def finish_stages(plan: RunPlan, sent: int, judge_key: str | None = None,
                  check_drift: bool = True) -> tuple[dict[str, Any], list[str]]:
    """After sending, the flow's stages in its order without Prefect: label, statistics, CSVs
    and run.json, drift, reports. Returns the flow's result (headline rows, run folder) and the
    problems that fail the run (threshold breaches, drift alerts)."""
    responses = label_responses(plan, judge_key)
    tables = compute_tables(plan, responses)
    breaches = record_run(plan, responses, tables)
    del responses  # the labelled frame is not needed by drift or the report (they read the folder)
    drift = check_run_drift(plan) if check_drift else None
    render_reports(plan)
    result = {"run_id": plan.run_id, "run_dir": str(plan.run_dir), "sent": sent,
              "headline": headline(tables).to_dict("records"), "flow_run_id": None}
    return result, [*breaches, *(drift.alerts if drift else [])]


def analyse(plan: RunPlan, judge_key: str | None = None) -> tuple[pd.DataFrame, Tables, list[str]]:
    """Label, compute statistics and write every report of a run whose sending is done."""
    responses = label_responses(plan, judge_key)
    tables = compute_tables(plan, responses)
    return responses, tables, finish_run(plan, responses, tables)
