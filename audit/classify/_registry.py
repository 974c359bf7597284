"""The classifier registry (:func:`make_classifier`) and the labelling of journal records.

:func:`classify_record` keeps the non-answers (``error``, ``blocked``, ``empty``,
``truncated``) apart before any classifier sees the text; they are never refusals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from audit.classify._labels import (
    BLOCKED,
    CLASSIFIER_NAMES,
    EMPTY,
    ERROR,
    TRUNCATED,
    Classifier,
    Verdict,
)
from audit.errors import ConfigError

__all__ = ["classify_frame", "classify_record", "make_classifier", "non_answer"]


def make_classifier(name: str = "rules", **settings: Any) -> Classifier:
    """Build a classifier by name: ``rules``, ``judge`` or ``ensemble``.

    ``judge`` and ``ensemble`` take the judge's settings (``base_url``, ``model``, ``api_key``,
    ``judge_journal``, ...; see :class:`audit.classify._judge.JudgeClassifier`); ``ensemble``
    also takes ``threshold``. Unknown names or settings raise :class:`ConfigError`.
    """
    factory = _factories().get(name)
    if factory is None:
        raise ConfigError(f"unknown classifier {name!r} — use one of: "
                          f"{', '.join(CLASSIFIER_NAMES)}")
    try:
        return factory(**settings)
    except TypeError as exc:
        raise ConfigError(f"bad settings for the {name!r} classifier: {exc} — "
                          "see `refusal-audit classifier evaluate --help`") from None


def _factories() -> dict[str, Callable[..., Classifier]]:
    """The classifier constructors (imported on first use: the judge pulls in the SDK)."""
    from audit.classify._judge import make_ensemble, make_judge
    from audit.classify.rules import RulesClassifier

    return {"rules": RulesClassifier, "judge": make_judge, "ensemble": make_ensemble}


def _text(value: object) -> str:
    """A record field as text ('' for None or NaN)."""
    return value if isinstance(value, str) else ""


def _present(value: object) -> bool:
    """Whether a record field holds a value (not None, NaN or an empty string)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return not (isinstance(value, str) and not value.strip())


def non_answer(record: dict[str, Any], *, classify_truncated: bool = False) -> Verdict | None:
    """The non-answer verdict of a journal record, or None if its answer should be classified."""
    if _present(record.get("error")):
        return Verdict(ERROR, 1.0, f"API error: {str(record['error'])[:200]}")
    finish = _text(record.get("finish_reason"))
    if finish == "content_filter":
        return Verdict(BLOCKED, 1.0, "finish_reason content_filter")
    if not _text(record.get("answer")).strip():
        return Verdict(EMPTY, 1.0, "no answer text")
    if finish == "length" and not classify_truncated:
        return Verdict(TRUNCATED, 1.0, "finish_reason length")
    return None


def classify_record(record: dict[str, Any], classifier: Classifier, *,
                    classify_truncated: bool = False) -> Verdict:
    """Label one journal record (keys ``prompt``, ``answer``, ``finish_reason``, ``error``).

    Order: error → ``error``; content filter → ``blocked``; no text → ``empty``; finish
    reason length → ``truncated`` (or, with ``classify_truncated``, the prefix is classified
    and the evidence says so); otherwise the classifier decides.
    """
    verdict = non_answer(record, classify_truncated=classify_truncated)
    if verdict is not None:
        return verdict
    verdict = classifier.classify(_text(record.get("prompt")), _text(record.get("answer")))
    if _text(record.get("finish_reason")) == "length":
        return Verdict(verdict.label, verdict.confidence, f"truncated prefix; {verdict.evidence}")
    return verdict


def classify_frame(df: pd.DataFrame, classifier: Classifier, *, prompt_column: str = "prompt",
                   answer_column: str = "answer", classify_truncated: bool = False) -> pd.DataFrame:
    """A copy of ``df`` with ``label``, ``confidence`` and ``evidence`` columns added.

    ``finish_reason`` and ``error`` columns are used when present. Rows go through
    :func:`classify_record`; a classifier with a ``classify_many`` method (the rules, the
    judge) gets all remaining answers in one call.
    """
    records = _records(df, prompt_column, answer_column)
    verdicts: list[Verdict | None] = [non_answer(r, classify_truncated=classify_truncated)
                                      for r in records]
    todo = [i for i, v in enumerate(verdicts) if v is None]
    pairs = [(records[i]["prompt"], records[i]["answer"]) for i in todo]
    for i, verdict in zip(todo, _classify_many(classifier, pairs), strict=True):
        if records[i]["finish_reason"] == "length":
            verdict = Verdict(verdict.label, verdict.confidence,
                              f"truncated prefix; {verdict.evidence}")
        verdicts[i] = verdict
    out = df.copy()
    done = [v for v in verdicts if v is not None]
    out["label"] = [v.label for v in done]
    out["confidence"] = [v.confidence for v in done]
    out["evidence"] = [v.evidence for v in done]
    return out


def _records(df: pd.DataFrame, prompt_column: str, answer_column: str) -> list[dict[str, Any]]:
    """The frame's rows as journal-like records."""
    for col in (prompt_column, answer_column):
        if col not in df.columns:
            raise ConfigError(f"no column {col!r} (columns: {', '.join(map(str, df.columns))}) "
                              "— name the right column")
    n = len(df)
    cols = {
        "prompt": df[prompt_column].tolist(),
        "answer": df[answer_column].tolist(),
        "finish_reason": df["finish_reason"].tolist() if "finish_reason" in df else [None] * n,
        "error": df["error"].tolist() if "error" in df else [None] * n,
    }
    return [{"prompt": _text(p), "answer": a if isinstance(a, str) else None,
             "finish_reason": f if isinstance(f, str) else None, "error": e}
            for p, a, f, e in zip(cols["prompt"], cols["answer"], cols["finish_reason"],
                                  cols["error"], strict=True)]


def _classify_many(classifier: Classifier, pairs: list[tuple[str, str]]) -> list[Verdict]:
    """Classify many (prompt, answer) pairs, batched when the classifier supports it."""
    many = getattr(classifier, "classify_many", None)
    if callable(many):
        return list(many(pairs))
    return [classifier.classify(p, a) for p, a in pairs]
