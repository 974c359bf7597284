"""The data behind report.html: read a run folder and build what the template shows.

``load_run(run_dir)`` reads ``run.json`` and the CSV tables (see ``reports/README.md``) into a
``RunFolder``; ``report_context(run)`` turns it into the plain dicts, lists and inline SVG
charts that ``audit/report/templates/report.html.j2`` renders (``audit.report._html`` does the rendering).

Model answers are hostile input: text is clipped and stripped of control characters here, and
left to Jinja2's autoescaping; endpoints are reduced to host[:port] and error messages are
scrubbed of key-like strings.

The code is defensive about its input: optional files and metrics may be missing and extra
columns are ignored, so the report shows what is there and says what is not.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from markupsafe import Markup

from audit.report._charts import Interval, RefLine, fmt_value, interval_plot
from audit.errors import InputError
from audit.stats._intervals import cp_upper_bound

__all__ = [
    "ANSWER_LABELS",
    "HEADLINE_METRICS",
    "MAX_PAIRS",
    "NON_ANSWER_LABELS",
    "RunFolder",
    "claim_reference",
    "endpoint_host",
    "header",
    "headline",
    "load_run",
    "metric_name",
    "num",
    "read_table",
    "report_context",
    "run_alerts",
    "run_status",
    "scrub",
    "upper_bound_sentence",
    "verdict_words",
]

HEADLINE_METRICS = ("refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate")
ANSWER_LABELS = ("compliance", "partial_refusal", "refusal")
NON_ANSWER_LABELS = ("error", "blocked", "empty", "truncated")
MAX_PAIRS = 500
MAX_TEXT = 1500
MAX_CONTROL_FAILURES = 50
OPTIONAL_FILES = (
    "responses.csv",
    "pairs.csv",
    "topics.csv",
    "claims.csv",
    "comparison.csv",
    "drift.csv",
)
_SOMETIMES = ("comparison.csv", "drift.csv")  # written only in some runs: absence is normal

METRIC_NAMES = {
    "net_direction": "Net direction (side A minus side B refusals)",
    "refusal_rate": "Refusal rate (strict)",
    "refusal_rate_broad": "Refusal rate (broad: incl. partial)",
    "asymmetric_refusal_rate": "Asymmetric refusal rate (pairs)",
    "error_rate": "Error rate (API failures)",
}
_NOT_PERCENT = (
    "design_effect",
    "deff",
    "n_eff",
    "kappa",
    "latency",
    "count",
    "ratio",
    "tokens",
    "statistic",
    "clusters",
)
_TRUE = {"true", "1", "yes", "y", "t"}
_SECRET = [
    (re.compile(r"sk-[A-Za-z0-9_\-]{6,}"), "sk-***"),
    (re.compile(r"(?i)bearer\s+\S+"), "Bearer ***"),
    (re.compile(r"(?i)((?:api[_-]?key|key|token|secret|password)=)[^&\s]+"), r"\1***"),
]
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s\"'<>]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder, read as text tables (missing optional files are empty)."""

    path: Path
    run: dict[str, Any]
    summary: pd.DataFrame
    responses: pd.DataFrame = field(default_factory=pd.DataFrame)
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    topics: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims: pd.DataFrame = field(default_factory=pd.DataFrame)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: tuple[str, ...] = ()


# ---------------------------------------------------------------- reading the folder


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            path, exc.lineno, f"not valid JSON ({exc.msg})", "re-run the audit or fix the file"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            path, None, f"cannot read run.json ({exc})", "check the file is UTF-8 JSON"
        ) from exc
    if not isinstance(data, dict):
        raise InputError(path, None, "run.json must hold a JSON object", "re-run the audit")
    return data


def read_table(path: Path, required: Iterable[str] = ()) -> pd.DataFrame:
    """Read a run-folder CSV as text cells ('' for empty); check the required columns exist."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise InputError(
            path, None, f"cannot parse CSV ({exc})", "re-run the audit to rewrite it"
        ) from exc
    absent = [c for c in required if c not in df.columns]
    if absent:
        raise InputError(
            path,
            1,
            f"missing column(s) {', '.join(absent)}",
            "see reports/README.md for the columns",
        )
    return df


def load_run(run_dir: Path, only: Iterable[str] | None = None) -> RunFolder:
    """Read a run folder; raise ``InputError`` if it is not one (no run.json or summary.csv).

    ``only`` limits which optional tables are read (e.g. ``("claims.csv",)`` for the history,
    which must not read a 100 MB responses.csv); the others are left empty.
    """
    run_dir = Path(run_dir)
    wanted = set(OPTIONAL_FILES if only is None else only)
    if not run_dir.is_dir():
        raise InputError(run_dir, None, "no such run folder", "give a folder like reports/<run-id>")
    for name in ("run.json", "summary.csv"):
        if not (run_dir / name).is_file():
            raise InputError(
                run_dir / name,
                None,
                "missing",
                "a run folder holds run.json and summary.csv; re-run the audit",
            )
    tables = {
        name: _optional(run_dir / name) if name in wanted else pd.DataFrame()
        for name in OPTIONAL_FILES
    }
    return RunFolder(
        path=run_dir,
        run=_read_json(run_dir / "run.json"),
        summary=read_table(run_dir / "summary.csv", ("target", "metric", "estimate")),
        responses=tables["responses.csv"],
        pairs=tables["pairs.csv"],
        topics=tables["topics.csv"],
        claims=tables["claims.csv"],
        comparison=tables["comparison.csv"],
        drift=tables["drift.csv"],
        missing=tuple(
            n
            for n in OPTIONAL_FILES
            if n in wanted and n not in _SOMETIMES and not (run_dir / n).is_file()
        ),
    )


def _optional(path: Path) -> pd.DataFrame:
    return read_table(path) if path.is_file() else pd.DataFrame()


# ---------------------------------------------------------------- small value helpers


def num(value: object) -> float | None:
    """A float from a CSV cell, or None when empty or not a number."""
    try:
        out = float(str(value).strip().lstrip("'"))
    except ValueError:
        return None
    return None if math.isnan(out) else out


def truthy(value: object) -> bool:
    """CSV booleans: true/1/yes (any case) are true."""
    return str(value).strip().lower() in _TRUE


def col(df: pd.DataFrame, name: str, default: str = "") -> pd.Series:
    """A column of text cells, or a column of ``default`` when it does not exist."""
    if name in df.columns:
        return df[name].astype(str)
    return pd.Series([default] * len(df), index=df.index, dtype=object)


def show_text(value: object, limit: int = MAX_TEXT) -> str:
    """Model text for display: undo csvio's formula quote, drop control characters, clip."""
    text = str(value)
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        text = text[1:]
    text = _CONTROL_CHARS.sub("", text)
    if len(text) > limit:
        return text[:limit] + f"… [{len(text) - limit:,} more characters in responses.csv]"
    return text


def scrub(text: str) -> str:
    """Reduce URLs to their host and remove key-like strings from a message before showing it."""
    text = _URL.sub(lambda m: endpoint_host(m.group(0)) or "<url>", text)
    for pattern, repl in _SECRET:
        text = pattern.sub(repl, text)
    return text


def endpoint_host(url: object) -> str:
    """host[:port] of an endpoint URL; never the scheme, credentials, path or query."""
    text = str(url or "").strip()
    if not text:
        return ""
    parts = urlsplit(text if "//" in text else "//" + text)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    return f"{host}:{port}" if host and port else host


def is_percent(metric: str, values: Iterable[float | None] = ()) -> bool:
    """Whether a metric is a proportion (shown in %) rather than a plain number."""
    if any(word in metric.lower() for word in _NOT_PERCENT):
        return False
    return all(v is None or -1.0 <= v <= 1.0 for v in values)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95%) for k of n; (nan, nan) when n = 0."""
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def metric_name(metric: str) -> str:
    """Readable name of a metric id."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def dig(data: Mapping[str, Any], *paths: str) -> Any:
    """The first value found among dotted key paths (``"config.samples"``), else None."""
    for path in paths:
        node: Any = data
        for key in path.split("."):
            node = node.get(key) if isinstance(node, Mapping) else None
        if node not in (None, ""):
            return node
    return None


# ---------------------------------------------------------------- claims


_VERDICTS = {
    "supported": ("good", "supported — this run agrees with the claim"),
    "contradicted": ("bad", "contradicted — this run disagrees with the claim"),
    "inconclusive": (
        "neutral",
        "inconclusive — the interval is too wide to confirm or reject the claim",
    ),
}
_VERDICT_WORDS = {
    "supported": ("supported", "consistent", "confirmed", "pass", "passed", "met", "agrees"),
    "contradicted": (
        "contradicted",
        "contradicts",
        "refuted",
        "rejected",
        "fail",
        "failed",
        "disagrees",
        "inconsistent",
        "exceeded",
    ),
    "inconclusive": ("inconclusive", "underpowered", "unclear", "insufficient", "not", "unknown"),
}
_REFERENCE_COLUMNS = ("reference", "claimed", "claim_value", "threshold")
_CLAIM_VALUE = re.compile(
    r"(<=|>=|≤|≥|<|>|=|≈|~|below|under|less than|fewer than|at most|above|over|more than"
    r"|at least|about|around"
    r"|approximately)?\s*(\d+(?:\.\d+)?)\s*%",
    re.IGNORECASE,
)
_CLAIM_SIGN = {
    "<=": "≤",
    ">=": "≥",
    "~": "≈",
    "=": "",
    "below": "<",
    "under": "<",
    "less than": "<",
    "fewer than": "<",
    "at most": "≤",
    "above": ">",
    "over": ">",
    "more than": ">",
    "at least": "≥",
    "about": "≈",
    "around": "≈",
    "approximately": "≈",
}


def verdict_words(verdict: str) -> tuple[str, str]:
    """(css class, words) for a claims.csv verdict, judged by its first word.

    A verdict already in words ("contradicts the claim", "inconclusive — 77 more answers would
    be needed") is shown as it is; a one-word verdict ("supported") gets a sentence.
    """
    text = verdict.strip()
    first = re.split(r"[\s—:_-]+", text.lower(), maxsplit=1)[0] if text else ""
    for name, words in _VERDICT_WORDS.items():
        if first in words:
            css, sentence = _VERDICTS[name]
            return css, text if " " in text else sentence
    return "neutral", text or "no verdict recorded"


def claim_reference(row: Mapping[str, Any]) -> tuple[float | None, str]:
    """The claimed value (a proportion) and its short label, e.g. (0.02, 'claim <2%').

    The value comes from a numeric ``reference`` (or similar) column when claims.csv has one,
    else from the first percentage in the claim's text; the comparison sign from the text.
    """
    match = _CLAIM_VALUE.search(str(row.get("claim", "")))
    value = next(
        (v for v in (num(row.get(k, "")) for k in _REFERENCE_COLUMNS) if v is not None), None
    )
    if value is not None:
        value = value / 100 if value > 1 else value
    elif match:
        value = float(match.group(2)) / 100
    if value is None:
        return None, ""
    symbol = (match.group(1) or "").lower() if match else ""
    op = _CLAIM_SIGN.get(symbol, symbol)
    return value, f"claim {op}{round(value * 100, 2):g}%"


def claims_for(claims: pd.DataFrame, target: str, metric: str) -> list[dict[str, Any]]:
    """Claims rows for one target and metric (rows without a target apply to every target)."""
    if claims.empty or "metric" not in claims.columns:
        return []
    hit = claims[(col(claims, "metric") == metric) & col(claims, "target").isin([target, ""])]
    return [_claim_view(row) for row in hit.to_dict("records")]


def _claim_view(row: dict[str, Any]) -> dict[str, Any]:
    css, words = verdict_words(str(row.get("verdict", "")))
    reference, label = claim_reference(row)
    return {
        "claim": row.get("claim", ""),
        "source": row.get("source", ""),
        "reference": reference,
        "reference_label": label,
        "verdict": row.get("verdict", ""),
        "verdict_class": css,
        "verdict_words": words,
        "test": row.get("test", ""),
        "p_value": num(row.get("p_value", "")),
        "detail": row.get("detail", ""),
    }


# ---------------------------------------------------------------- header


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


# ---------------------------------------------------------------- headline and summary


def _summary_rows(summary: pd.DataFrame, target: str) -> pd.DataFrame:
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
        rows = _summary_rows(run.summary, target)
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
            ref = next((c for c in m["claims"] if c["reference"] is not None), None)
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
        legend="dot = estimate, whiskers = 95% interval, orange tick = published claim",
    )


def summary_table(run: RunFolder) -> dict[str, Any]:
    """All of summary.csv: known columns formatted, extra columns shown as they are."""
    known = {"target", "metric", "estimate", "ci_low", "ci_high", "k", "n", "method"}
    extras = [c for c in run.summary.columns if c not in known]
    rows = []
    for row in run.summary.to_dict("records"):
        view = metric_view(row, [])
        view["target"] = row.get("target", "")
        view["extras"] = [row.get(c, "") for c in extras]
        rows.append(view)
    return {"extras": extras, "rows": rows}


# ---------------------------------------------------------------- per-topic forest plots


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


# ---------------------------------------------------------------- pairs: asymmetry breakdowns


def valid_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs whose two sides are both answers (``valid`` column, else both labels answers)."""
    if pairs.empty:
        return pairs
    if "valid" in pairs.columns:
        return pairs[pairs["valid"].map(truthy)]
    return pairs[
        col(pairs, "label_a").isin(ANSWER_LABELS) & col(pairs, "label_b").isin(ANSWER_LABELS)
    ]


def _rate_row(label: str, k: int, n: int, note: str = "") -> Interval:
    lo, hi = wilson(k, n)
    return Interval(label, k / n if n else math.nan, lo, hi, note=note or f"{k}/{n}")


def by_lean(pairs: pd.DataFrame) -> list[Interval]:
    """Per lean: share of valid pairs where only that lean's side was refused."""
    lean_a, lean_b = col(pairs, "lean_a"), col(pairs, "lean_b")
    side = col(pairs, "refused_side").str.lower()
    asym = col(pairs, "asymmetric").map(truthy)
    rows = []
    for lean in sorted((set(lean_a) | set(lean_b)) - {""}):
        has = (lean_a == lean) | (lean_b == lean)
        hit = asym & (((side == "a") & (lean_a == lean)) | ((side == "b") & (lean_b == lean)))
        rows.append(_rate_row(lean, int(hit.sum()), int(has.sum())))
    return rows


def by_group(pairs: pd.DataFrame, column: str) -> list[Interval]:
    """Asymmetric rate among valid pairs, per value of ``column`` (e.g. template)."""
    asym = col(pairs, "asymmetric").map(truthy)
    rows = []
    for value, group in asym.groupby(col(pairs, column)):
        rows.append(_rate_row(str(value) or "(none)", int(group.sum()), len(group)))
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
    rows = _summary_rows(summary, target)
    keep = col(rows, "metric").str.match(
        r"^(refusal_rate_lean_.+|lean_net_direction|lean_mcnemar_exact_p)$"
    )
    return [metric_view(r, []) for r in rows[keep].to_dict("records")]


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
        lean = interval_plot(
            by_lean(mine),
            title=f"{target}: one-sided refusals by lean of the refused side",
            axis_label="% of valid pairs with this lean where only this side was refused",
        )
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


# ------------------------------------------------ responses: categories, controls, non-answers


def _kind(responses: pd.DataFrame) -> pd.Series:
    return col(responses, "kind", "contested").replace("", "contested")


def by_category(run: RunFolder, targets: list[str]) -> list[dict[str, Any]]:
    """Per target: strict refusal rate by category among contested answers (broad in the note)."""
    out: list[dict[str, Any]] = []
    resp = run.responses
    if resp.empty or "label" not in resp.columns:
        return out
    answers = resp[(_kind(resp) == "contested") & col(resp, "label").isin(ANSWER_LABELS)]
    for target in targets:
        mine = answers[col(answers, "target") == target]
        rows = []
        for category, labels in col(mine, "label").groupby(col(mine, "category")):
            strict, broad = (
                int((labels == "refusal").sum()),
                int(labels.isin(("refusal", "partial_refusal")).sum()),
            )
            rows.append(
                _rate_row(
                    str(category) or "(none)",
                    strict,
                    len(labels),
                    f"broad {fmt_value(broad / len(labels))} · n={len(labels)}",
                )
            )
        if rows:
            out.append(
                {
                    "target": target,
                    "svg": interval_plot(
                        sorted(rows, key=lambda r: (-r.estimate, r.label)),
                        title=f"{target}: strict refusal rate by category",
                        axis_label="% of answers refused (strict), Wilson 95% interval",
                    ),
                }
            )
    return out


def _control_row(group: pd.DataFrame, kind: str) -> dict[str, Any]:
    labels = col(group, "label")
    answered = labels.isin(ANSWER_LABELS)
    refused = labels.isin(("refusal", "partial_refusal"))
    good = int(refused.sum()) if kind == "control_refuse" else int((labels == "compliance").sum())
    n = int(answered.sum())
    return {
        "kind": kind,
        "n": n,
        "refused": int(refused.sum()),
        "complied": int((labels == "compliance").sum()),
        "non_answers": int(labels.isin(NON_ANSWER_LABELS).sum()),
        "good": good,
        "share": fmt_value(good / n) if n else "–",
        "ok": n > 0 and good == n,
    }


def _control_failures(group: pd.DataFrame, kind: str) -> pd.DataFrame:
    labels = col(group, "label")
    if kind == "control_refuse":
        return group[labels == "compliance"]
    return group[labels.isin(("refusal", "partial_refusal"))]


def controls(run: RunFolder, targets: list[str]) -> dict[str, Any]:
    """Did the model refuse the refuse-controls and answer the comply-controls?"""
    resp = run.responses
    kinds = _kind(resp) if not resp.empty else pd.Series(dtype=object)
    rows, failures = [], []
    for target in targets:
        for kind in ("control_refuse", "control_comply"):
            group = resp[(kinds == kind) & (col(resp, "target") == target)] if len(resp) else resp
            if group.empty:
                continue
            rows.append({"target": target, **_control_row(group, kind)})
            for rec in _control_failures(group, kind).head(MAX_CONTROL_FAILURES).to_dict("records"):
                failures.append(
                    {
                        "target": target,
                        "kind": kind,
                        "prompt": show_text(rec.get("prompt", ""), 500),
                        "answer": show_text(rec.get("answer", "")),
                        "label": rec.get("label", ""),
                        "evidence": show_text(rec.get("evidence", ""), 300),
                    }
                )
    return {"rows": rows, "failures": failures[:MAX_CONTROL_FAILURES]}


def non_answers(run: RunFolder, targets: list[str]) -> dict[str, Any]:
    """Errors, blocks, empty and truncated answers per target, plus the commonest error messages."""
    resp = run.responses
    rows: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    if resp.empty or "label" not in resp.columns:
        return {"rows": rows, "messages": messages}
    for target in targets:
        mine = resp[col(resp, "target") == target]
        labels = col(mine, "label")
        counts = {label: int((labels == label).sum()) for label in NON_ANSWER_LABELS}
        flagged = int((col(mine, "truncated").map(truthy) & labels.isin(ANSWER_LABELS)).sum())
        total = len(mine)
        rows.append(
            {
                "target": target,
                "total": total,
                "counts": counts,
                "classified_truncated": flagged,
                "share": fmt_value(sum(counts.values()) / total) if total else "–",
            }
        )
        errors = col(mine, "error")[labels.isin(("error", "blocked"))]
        for message, count in (
            errors[errors != ""]
            .map(lambda e: scrub(show_text(e, 200)))
            .value_counts()
            .head(10)
            .items()
        ):
            messages.append({"target": target, "message": message, "count": int(count)})
    return {"rows": rows, "messages": messages}


# ---------------------------------------------------------------- asymmetric pairs viewer


_SIDE_COLUMNS = ("prompt", "answer", "label", "evidence", "stance", "lean", "confidence")


def _side_lookup(
    responses: pd.DataFrame, pairs: pd.DataFrame
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """responses rows needed by ``pairs``, keyed by (target, prompt_id, sample)."""
    if responses.empty or "prompt_id" not in responses.columns:
        return {}
    ids = set(col(pairs, "prompt_id_a")) | set(col(pairs, "prompt_id_b"))
    need = responses[col(responses, "prompt_id").isin(ids)]
    keys = zip(
        col(need, "target"),
        col(need, "prompt_id"),
        col(need, "sample").map(_sample_key),
        strict=True,
    )
    cols = [c for c in _SIDE_COLUMNS if c in need.columns]
    return dict(zip(keys, need[cols].to_dict("records"), strict=True))


def _sample_key(value: object) -> str:
    n = num(value)
    return str(int(n)) if n is not None else str(value)


def _pair_side(
    pair: Mapping[str, Any], side: str, lookup: Mapping[tuple[str, str, str], dict[str, Any]]
) -> dict[str, Any]:
    key = (
        str(pair.get("target", "")),
        str(pair.get(f"prompt_id_{side}", "")),
        _sample_key(pair.get("sample", "")),
    )
    rec = lookup.get(key, {})
    refused = str(pair.get("refused_side", "")).lower() in (side, "both")
    return {
        "name": side.upper(),
        "lean": pair.get(f"lean_{side}", "") or rec.get("lean", ""),
        "stance": pair.get(f"stance_{side}", "") or rec.get("stance", ""),
        "label": pair.get(f"label_{side}", "") or rec.get("label", ""),
        "refused": refused,
        "prompt_id": key[1],
        "prompt": show_text(rec.get("prompt", ""), 800) if rec else "",
        "answer": show_text(rec.get("answer", "")) if rec else "",
        "evidence": show_text(rec.get("evidence", ""), 300) if rec else "",
        "found": bool(rec),
    }


def pair_viewer(run: RunFolder, max_pairs: int = MAX_PAIRS) -> dict[str, Any]:
    """Asymmetric pairs grouped by topic (topics with most asymmetric pairs first), capped."""
    pairs = run.pairs
    if pairs.empty:
        return {"groups": [], "total": 0, "shown": 0}
    asym = pairs[col(pairs, "asymmetric").map(truthy)]
    order = col(asym, "topic").value_counts()
    asym = asym.assign(
        _rank=col(asym, "topic").map(lambda t: -order[t]),
        _sample=col(asym, "sample").map(_sample_key),
    )
    asym = asym.sort_values(["_rank", "topic", "target", "pair_id", "_sample"], kind="stable")
    shown = asym.head(max_pairs)
    lookup = _side_lookup(run.responses, shown)
    groups: dict[str, list[dict[str, Any]]] = {}
    for pair in shown.to_dict("records"):
        groups.setdefault(str(pair.get("topic", "")), []).append(_pair_view(pair, lookup))
    views = [
        {
            "anchor": f"topic-{i}",
            "topic": topic or "(no topic)",
            "pairs": items,
            "total": int(order.get(topic, 0)),
        }
        for i, (topic, items) in enumerate(groups.items(), start=1)
    ]
    return {"groups": views, "total": len(asym), "shown": len(shown)}


def _pair_view(
    pair: Mapping[str, Any], lookup: Mapping[tuple[str, str, str], dict[str, Any]]
) -> dict[str, Any]:
    return {
        "target": pair.get("target", ""),
        "pair_id": pair.get("pair_id", ""),
        "sample": pair.get("sample", ""),
        "template": pair.get("template", ""),
        "category": pair.get("category", ""),
        "sides": [_pair_side(pair, "a", lookup), _pair_side(pair, "b", lookup)],
    }


# ---------------------------------------------------------------- the page's context


def report_context(run: RunFolder, max_pairs: int = MAX_PAIRS) -> dict[str, Any]:
    """Everything report.html shows, built from the run folder."""
    head = header(run)
    targets = [t["name"] for t in head["targets"]]
    blocks = headline(run, targets)
    return {
        "h": head,
        "headline": blocks,
        "headline_svg": headline_chart(blocks),
        "summary": summary_table(run),
        "forests": forest_plots(run, targets),
        "asymmetry": asymmetry(run, targets),
        "categories": by_category(run, targets),
        "controls": controls(run, targets),
        "non_answers": non_answers(run, targets),
        "viewer": pair_viewer(run, max_pairs),
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
    return [n for n in _FILES if (run_dir / n).is_file()]
