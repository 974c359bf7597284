"""The page header: who was audited, with what classifier, when, how much, and the run's status.

``run_alerts`` and ``run_status`` are shared with the history index.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from audit.classify._labels import ANSWER_LABELS, NON_ANSWER_LABELS
from audit.csvio import truthy
from audit.report._charts import fmt_value
from audit.report._format import col, dig, endpoint_host, num
from audit.report._load import RunFolder

__all__ = ["header", "run_alerts", "run_status"]


def targets_of(run: RunFolder) -> list[dict[str, str]]:
    """Targets with name, model and endpoint host, from run.json, else from the tables."""
    listed = dig(run.run, "targets", "config.targets") or []
    out = []
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, Mapping):
            name = str(item.get("name") or item.get("model") or "")
            url = item.get("base_url") or item.get("endpoint") or item.get("host") or ""
            out.append(
                {"name": name, "model": str(item.get("model", "")), "host": endpoint_host(url)}
            )
    known = {t["name"] for t in out}
    for name in _table_targets(run):
        if name not in known:
            out.append({"name": name, "model": _model_of(run.responses, name), "host": ""})
    return out


def _table_targets(run: RunFolder) -> list[str]:
    names = list(dict.fromkeys(col(run.summary, "target")))
    return names + [n for n in dict.fromkeys(col(run.responses, "target")) if n not in names]


def _model_of(responses: pd.DataFrame, target: str) -> str:
    models = col(responses, "model")[col(responses, "target") == target]
    return str(models.iloc[0]) if len(models) else ""


def _classifier(run: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """The classifier's name and, when known, how well it did on a human-labelled gold set.

    The measurement comes from the calibration file the run's config names (``calibration``,
    written by ``refusal-audit classifier evaluate --save-calibration``); a ``classifier``
    object in run.json (older run folders) is still read.
    """
    info = dig(run, "classifier", "config.classifier")
    name = info.get("name", "") if isinstance(info, Mapping) else str(info or "")
    judge = dig(run, "config.judge.model")
    if name in ("judge", "ensemble") and judge:
        name = f"{name} (judge model {judge})"
    if isinstance(info, Mapping) and isinstance(info.get("to_judge"), int):
        total = info["to_judge"] + int(info.get("by_rules") or 0)
        name += f"; {info['to_judge']} of {total} answers went to the judge, the rules decided the rest"
    if isinstance(info, Mapping) and info.get("judge_unparsed"):
        name += f"; {info['judge_unparsed']} judge replies were unparseable (the rules decided those)"
    accuracy = dig(run, "classifier.accuracy", "classifier_accuracy", "calibration.accuracy")
    extras = {
        k: dig(run, f"classifier.{k}", f"calibration.{k}")
        for k in ("sensitivity", "specificity", "gold_set")
    }
    measured, note = _calibration_file(run, run_dir, str(dig(run, "config.classifier") or ""))
    return {
        "name": name or "unknown",
        "accuracy": num(accuracy) if accuracy is not None else None,
        "extras": {k: v for k, v in extras.items() if v is not None},
        "measured": measured,
        "note": note,
    }


def _calibration_candidates(run: dict[str, Any], run_dir: Path, given: str) -> list[Path]:
    """Where a calibration path from the config may be: as given (absolute, or relative to the
    working directory), beside the run folder, or relative to the project the run was made in
    (the folder holding ``reports_dir``)."""
    path = Path(given)
    if path.is_absolute():
        return [path]
    out = [Path.cwd() / path, run_dir / path]
    reports_dir = Path(str(dig(run, "config.reports_dir") or "reports"))
    parents = run_dir.resolve().parents
    depth = len(reports_dir.parts)
    if not reports_dir.is_absolute() and depth < len(parents):
        out.append(parents[depth] / path)
    return out


def _calibration_file(run: dict[str, Any], run_dir: Path, classifier: str) -> tuple[str, str]:
    """(what the calibration file says, or '') and (a note when it is not usable, or '')."""
    given = dig(run, "config.calibration")
    if not given:
        return "", ""
    given = str(given)
    found = next((p for p in _calibration_candidates(run, run_dir, given) if p.is_file()), None)
    if found is None:
        return "", f"calibration file not found: {given}"
    try:
        data = json.loads(found.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict) or (
        num(data.get("sensitivity")) is None and num(data.get("specificity")) is None
    ):
        return "", f"calibration file unreadable: {given}"
    return _calibration_words(data, classifier), ""


def _rate_words(data: Mapping[str, Any], key: str, k_key: str, n_key: str) -> str:
    value = num(data.get(key))
    if value is None:
        return f"{key} not measured"
    out = f"{key} {fmt_value(value)}"
    ci = data.get(f"{key}_ci")
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(num(v) is not None for v in ci):
        out += f" (95% CI {fmt_value(num(ci[0]))} – {fmt_value(num(ci[1]))})"
    k, n = num(data.get(k_key)), num(data.get(n_key))
    if k is not None and n is not None:
        out += f", {k:.0f} of {n:.0f}"
    return out


def _calibration_words(data: Mapping[str, Any], classifier: str) -> str:
    """'sensitivity 88.0% (95% CI …), 176 of 200; specificity …; gold set: n = 450 …'."""
    parts = [
        _rate_words(data, "sensitivity", "tp", "n_pos"),
        _rate_words(data, "specificity", "tn", "n_neg"),
    ]
    n, n_pos, n_neg = (num(data.get(k)) for k in ("n", "n_pos", "n_neg"))
    gold = data.get("gold")
    files = (
        ", ".join(Path(str(g)).name for g in gold) if isinstance(gold, list) else str(gold or "")
    )
    size = n if n else (n_pos or 0) + (n_neg or 0)
    where = f"gold set n = {size:.0f}" if size else "gold set size unknown"
    if n_pos is not None and n_neg is not None:
        where += f" ({n_pos:.0f} refusals, {n_neg:.0f} non-refusals)"
    if files:
        where += f", {files}"
    parts.append(where)
    measured_on = str(data.get("classifier") or "")
    if measured_on and classifier and measured_on != classifier:
        parts.append(f"measured for the {measured_on} classifier, not this run's {classifier}")
    return "measured on a human-labelled gold set: " + "; ".join(parts)


def _samples(run: RunFolder) -> Any:
    samples = dig(run.run, "config.samples", "samples")
    resp = run.responses
    if samples is None and "sample" in resp.columns and len(resp):
        samples = int(max(num(v) or 0 for v in resp["sample"].unique())) + 1
    return samples


def _counts(run: RunFolder) -> dict[str, Any]:
    """Prompts, samples and requests, and answers vs non-answers (from responses.csv, else run.json)."""
    resp, r = run.responses, run.run
    labels = col(resp, "label")
    counts = labels.value_counts().to_dict() if len(resp) else dict(dig(r, "labels") or {})
    n_prompts = col(resp, "prompt_id").nunique() if len(resp) else dig(r, "prompt_set.prompts")
    return {
        "n_prompts": n_prompts,
        "samples": _samples(run),
        "n_rows": len(resp) if len(resp) else dig(r, "answers", "counts.requests"),
        "n_answers": sum(int(counts.get(k, 0)) for k in ANSWER_LABELS),
        "n_non_answers": sum(int(counts.get(k, 0)) for k in NON_ANSWER_LABELS),
        "n_errors": int(counts.get("error", 0)),
    }


_STATUS_WORDS = {
    "completed": "completed",
    "failed_thresholds": "failed: thresholds breached",
    "failed_drift": "failed: drift since the previous run",
    "running": "not finished: still running, or stopped before the end",
    "reporting": "not finished: stopped while writing its reports",
}


def run_alerts(r: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(threshold breaches, drift alerts, drift notes) from run.json, as lists of strings."""

    def strings(value: Any) -> list[str]:
        return [str(v) for v in value] if isinstance(value, list) else []

    drift = r.get("drift")
    drift = drift if isinstance(drift, Mapping) else {}
    return strings(r.get("breaches")), strings(drift.get("alerts")), strings(drift.get("notes"))


def run_status(
    status: str, breaches: Iterable[str] = (), alerts: Iterable[str] = ()
) -> dict[str, Any]:
    """A run's status in words and whether it failed (a breach or a drift alert fails it too).

    ``completed`` → "completed"; ``failed_thresholds`` → "failed: thresholds breached";
    ``failed_drift`` → "failed: drift since the previous run"; empty → "" (not recorded).
    """
    status = str(status or "").strip()
    breaches, alerts = list(breaches), list(alerts)
    words = _STATUS_WORDS.get(status)
    if words is None:
        words = status.replace("_", " ")
        if status.startswith("failed_"):
            words = "failed: " + status.removeprefix("failed_").replace("_", " ")
    failed = status.startswith("failed") or bool(breaches) or bool(alerts)
    if failed and not words.startswith("failed"):
        reasons = ["thresholds breached"] * bool(breaches) + ["drift alert"] * bool(alerts)
        words = "failed: " + " and ".join(reasons) + (f" (status {words})" if words else "")
    elif failed:
        extra = [
            r
            for r, hit in (("thresholds breached", breaches), ("drift alert", alerts))
            if hit and r not in words
        ]
        words += "".join(f"; {r}" for r in extra)
    css = "fail" if failed else "ok" if status == "completed" else "warn"
    return {"status": status, "words": words, "failed": failed, "css": css}


def _identity(r: dict[str, Any], fallback_id: str, run_dir: Path) -> dict[str, Any]:
    """Run id, prompt set, classifier, times, versions and status from run.json."""
    breaches, drift_alerts, drift_notes = run_alerts(r)
    status = str(dig(r, "status") or "")
    return {
        "run_id": str(dig(r, "run_id", "id") or fallback_id),
        "prompt_set": {
            k: dig(r, f"prompt_set.{k}", f"prompt_set_{k}") or "unknown"
            for k in ("name", "version", "sha256")
        },
        "classifier": _classifier(r, run_dir),
        "started_at": dig(r, "started_at", "times.started_at") or "unknown",
        "finished_at": dig(r, "finished_at", "times.finished_at") or "unknown",
        "tool_version": dig(r, "versions.refusal-audit", "tool_version", "version") or "unknown",
        "status": status,
        "run_status": run_status(status, breaches, drift_alerts),
        "breaches": breaches,
        "drift_alerts": drift_alerts,
        "drift_notes": drift_notes,
        "has_drift": isinstance(r.get("drift"), Mapping),
    }


def truncation(run: RunFolder) -> dict[str, Any]:
    """Whether answers cut at max_tokens were classified on their prefix, and how many there are.

    With ``classify_truncated = true`` in the run's config, such answers carry an answer label
    (and ``truncated`` True) and count in the refusal rates; otherwise they are labelled
    ``truncated`` and left out of every denominator.
    """
    on = truthy(dig(run.run, "config.classify_truncated") or "")
    resp = run.responses
    known = "truncated" in resp.columns
    flag = col(resp, "truncated").map(truthy) if known else pd.Series(dtype=bool)
    answered = col(resp, "label").isin(ANSWER_LABELS) if known else pd.Series(dtype=bool)
    listed = dig(run.run, "config.targets") or []
    limits = sorted(
        {
            int(n)
            for t in (listed if isinstance(listed, list) else [])
            if isinstance(t, Mapping) and (n := num(t.get("max_tokens"))) is not None
        }
    )
    return {
        "classified": on,
        "known": known,
        "n": int(flag.sum()) if known else None,
        "n_classified": int((flag & answered).sum()) if known else None,
        "max_tokens": ", ".join(str(n) for n in limits),
    }


def header(run: RunFolder) -> dict[str, Any]:
    """What the page header shows: who was audited, with what, when, and how much."""
    return {
        **_identity(run.run, run.path.name, run.path),
        **_counts(run),
        "targets": targets_of(run),
        "calibration": _calibration_note(run.summary),
        "truncation": truncation(run),
    }


def _calibration_note(summary: pd.DataFrame) -> str:
    """The classifier calibration behind the corrected refusal rate, when summary.csv has one."""
    hit = summary[col(summary, "metric") == "refusal_rate_corrected"]
    return str(hit.iloc[0].get("note", "")) if len(hit) else ""
