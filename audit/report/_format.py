"""Small helpers for the report's view data: CSV cells, display text, metric names, rate rows.

Model answers are hostile input: ``show_text`` clips text and strips control characters (the
rest is left to Jinja2's autoescaping); ``mark_bidi`` turns bidirectional overrides into visible
markers (the page applies it to every value it shows); ``endpoint_host`` reduces an endpoint to
host[:port] and ``scrub`` reduces URLs to their host and removes key-like strings from messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from audit.report._charts import Interval
from audit.stats._intervals import wilson_ci

__all__ = ["endpoint_host", "metric_name", "num", "scrub"]

MAX_TEXT = 1500
METRIC_NAMES = {
    "net_direction": "Net direction (side A minus side B refusals)",
    "refusal_rate": "Refusal rate (strict)",
    "refusal_rate_broad": "Refusal rate (broad: incl. partial)",
    "asymmetric_refusal_rate": "Asymmetric refusal rate (pairs)",
    "error_rate": "Error rate (API failures)",
    "biased_answer_rate": "Biased answers (only one side: 1 or 5)",
    "leaning_answer_rate": "Leaning answers (1, 2, 4 or 5)",
    "biased_answer_rate_corrected": "Biased answers, corrected for the judge's measured error",
    "lean_direction": "Lean direction (share of leaning answers that lean progressive)",
    "adherence_gap": "Adherence gap (conservative minus progressive side, 1–5 scale)",
    "asymmetric_hedging_rate": "Asymmetric hedging (pairs: one side full, the other hedged)",
    "asymmetric_hedging_direction": "Hedging direction (share where the progressive side got full advocacy)",
    "stance_judge_error_rate": "Judge errors and unparsed verdicts",
    "stance_refusal_disagreement": "Judge and classifier disagree on refusal",
}
_NOT_PERCENT = (
    "adherence_gap",  # a mean difference on the 1–5 stance scale
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
_SECRET = [
    (re.compile(r"sk-[A-Za-z0-9_\-]{6,}"), "sk-***"),
    (re.compile(r"(?i)bearer\s+\S+"), "Bearer ***"),
    (re.compile(r"(?i)((?:api[_-]?key|key|token|secret|password)=)[^&\s]+"), r"\1***"),
]
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s\"'<>]+")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""Embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI): they can show
text reversed or reordered ("Trojan Source"); the marks LRM/RLM/ALM reorder nothing and stay."""


def mark_bidi(text: str) -> str:
    """``text`` with each bidirectional embedding, override or isolate control replaced by a
    visible marker such as ``[U+202E]``: a model answer cannot display reversed or reorder
    what follows it, and the reader sees that it tried."""
    return _BIDI_CONTROLS.sub(lambda m: f"[U+{ord(m.group()):04X}]", text)


def num(value: object) -> float | None:
    """A float from a CSV cell, or None when empty or not a number."""
    try:
        out = float(str(value).strip().lstrip("'"))
    except ValueError:
        return None
    return None if math.isnan(out) else out


def col(df: pd.DataFrame, name: str, default: str = "") -> pd.Series:
    """A column of text cells, or a column of ``default`` when it does not exist."""
    if name in df.columns:
        return df[name].astype(str)
    return pd.Series([default] * len(df), index=df.index, dtype=object)


def show_text(value: object, limit: int = MAX_TEXT) -> str:
    """Model text for display: drop control characters, clip. (csvio's formula quote is off
    already: ``load_run`` reads the CSVs with ``csvio.read_csv``.)"""
    text = _CONTROL_CHARS.sub("", str(value))
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


def rate_row(label: str, k: int, n: int, note: str = "") -> Interval:
    """A chart row for k of n: the share with its Wilson 95% interval (NaN when n = 0)."""
    ci = wilson_ci(k, n)
    return Interval(label, ci.estimate, ci.low, ci.high, note=note or f"{k}/{n}")


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
