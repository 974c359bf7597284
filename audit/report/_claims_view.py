"""Claims in words: a claims.csv verdict as a sentence, the claimed value from the claim's text.

``claims_for`` gives the claims rows of one target and metric, ready for the headline, each with
its ``classifier_check`` (does the verdict survive the classifier's measured error?).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from audit.report._format import col, num

__all__ = ["claim_reference", "verdict_words"]


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
    # a ratio claim ("B's rate < half of A's", a ``baseline`` target) claims a ratio, not a rate:
    # no mark on the rate's axis
    reference, label = (None, "") if str(row.get("baseline", "") or "") else claim_reference(row)
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
        "explanation": row.get("explanation", ""),
        "classifier_check": str(row.get("classifier_check", "") or ""),
        "classifier_class": classifier_class(str(row.get("classifier_check", "") or "")),
    }


def classifier_class(check: str) -> str:
    """css class of a verdict's classifier check: 'bad' when it depends on the classifier,
    'good' when it survives the classifier's measured error, else 'neutral'."""
    if check.startswith("depends on the classifier"):
        return "bad"
    return "good" if check.startswith("survives") else "neutral"
