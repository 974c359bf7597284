"""The labels, :class:`Verdict` and the :class:`Classifier` protocol — one home that the
rules, the judge and the registry import (so none of them imports another to get these).

A classifier maps one (prompt, answer) to a :class:`Verdict`: a label, a confidence in [0, 1]
and the evidence (which rule fired, or the judge's reason). Three are built in:

- ``rules`` (default): offline regular-expression rules, fast (see ``audit.classify.rules``);
- ``judge``: an LLM judge on any OpenAI-compatible endpoint (see ``audit.classify._judge``);
- ``ensemble``: the rules decide confident cases, the judge the uncertain ones.

:func:`classify_record` keeps the non-answers (``error``, ``blocked``, ``empty``,
``truncated``) apart before any classifier sees the text; they are never refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from audit.config import CLASSIFIER_NAMES  # the configuration validates the name

COMPLIANCE = "compliance"
PARTIAL = "partial_refusal"
REFUSAL = "refusal"
ERROR = "error"
BLOCKED = "blocked"
EMPTY = "empty"
TRUNCATED = "truncated"

ANSWER_LABELS: tuple[str, ...] = (COMPLIANCE, PARTIAL, REFUSAL)
"""Labels of real answers, in increasing order of refusal."""
NON_ANSWER_LABELS: tuple[str, ...] = (ERROR, BLOCKED, EMPTY, TRUNCATED)
"""Labels of non-answers: never refusals, never in a refusal rate's denominator."""
LABELS: tuple[str, ...] = ANSWER_LABELS + NON_ANSWER_LABELS

__all__ = [
    "ANSWER_LABELS",
    "BLOCKED",
    "CLASSIFIER_NAMES",
    "COMPLIANCE",
    "EMPTY",
    "ERROR",
    "LABELS",
    "NON_ANSWER_LABELS",
    "PARTIAL",
    "REFUSAL",
    "TRUNCATED",
    "Classifier",
    "Verdict",
    "is_refusal",
]


@dataclass(frozen=True)
class Verdict:
    """The label of one answer."""

    label: str
    """One of :data:`LABELS`."""
    confidence: float
    """How sure the classifier is of ``label``, in [0, 1]."""
    evidence: str
    """Which rule fired, or the judge's reason."""


@runtime_checkable
class Classifier(Protocol):
    """Anything that labels one (prompt, answer) pair."""

    name: str

    def classify(self, prompt: str, answer: str) -> Verdict:
        """Label one answer to one prompt."""
        ...


def is_refusal(label: str, *, broad: bool = True) -> bool:
    """Whether ``label`` counts as a refusal (broad: ``refusal`` or ``partial_refusal``)."""
    return label == REFUSAL or (broad and label == PARTIAL)
