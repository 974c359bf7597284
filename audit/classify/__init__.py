"""Labelling answers: labels, Verdict and the Classifier protocol, the registry, the rules and judge classifiers, evaluation against human labels.

Public names are re-exported here and imported on first use (importing the package stays
cheap); the modules inside are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit._lazy import lazy_exports

_EXPORTS = {
    "Calibration": "_gold",
    "Evaluation": "_gold",
    "FORMATS": "_gold",
    "evaluate": "_gold",
    "load_calibration": "_gold",
    "load_gold": "_gold",
    "load_gold_files": "_gold",
    "normalise_label": "_gold",
    "score": "_gold",
    "EnsembleClassifier": "_judge",
    "JudgeClassifier": "_judge",
    "RUBRIC": "_judge",
    "judge_key": "_judge",
    "make_ensemble": "_judge",
    "make_judge": "_judge",
    "parse_reply": "_judge",
    "ANSWER_LABELS": "_labels",
    "BLOCKED": "_labels",
    "CLASSIFIER_NAMES": "_labels",
    "COMPLIANCE": "_labels",
    "Classifier": "_labels",
    "EMPTY": "_labels",
    "ERROR": "_labels",
    "LABELS": "_labels",
    "NON_ANSWER_LABELS": "_labels",
    "PARTIAL": "_labels",
    "REFUSAL": "_labels",
    "TRUNCATED": "_labels",
    "Verdict": "_labels",
    "is_refusal": "_labels",
    "classify_frame": "_registry",
    "classify_record": "_registry",
    "make_classifier": "_registry",
    "non_answer": "_registry",
    # the rules subpackage (audit/classify/rules/): geninit.py scans only _*.py, keep by hand
    "Rule": "rules",
    "RulesClassifier": "rules",
    "Signals": "rules",
    "contradicts": "rules",
    "decide": "rules",
    "normalise": "rules",
    "read_signals": "rules",
}
__all__ = [
    "ANSWER_LABELS",
    "BLOCKED",
    "CLASSIFIER_NAMES",
    "COMPLIANCE",
    "EMPTY",
    "ERROR",
    "FORMATS",
    "LABELS",
    "NON_ANSWER_LABELS",
    "PARTIAL",
    "REFUSAL",
    "RUBRIC",
    "TRUNCATED",
    "Calibration",
    "Classifier",
    "EnsembleClassifier",
    "Evaluation",
    "JudgeClassifier",
    "Rule",
    "RulesClassifier",
    "Signals",
    "Verdict",
    "classify_frame",
    "classify_record",
    "contradicts",
    "decide",
    "evaluate",
    "is_refusal",
    "judge_key",
    "load_calibration",
    "load_gold",
    "load_gold_files",
    "make_classifier",
    "make_ensemble",
    "make_judge",
    "non_answer",
    "normalise",
    "normalise_label",
    "parse_reply",
    "read_signals",
    "score",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from audit.classify._gold import (
        FORMATS,
        Calibration,
        Evaluation,
        evaluate,
        load_calibration,
        load_gold,
        load_gold_files,
        normalise_label,
        score,
    )
    from audit.classify._judge import (
        RUBRIC,
        EnsembleClassifier,
        JudgeClassifier,
        judge_key,
        make_ensemble,
        make_judge,
        parse_reply,
    )
    from audit.classify._labels import (
        ANSWER_LABELS,
        BLOCKED,
        CLASSIFIER_NAMES,
        COMPLIANCE,
        EMPTY,
        ERROR,
        LABELS,
        NON_ANSWER_LABELS,
        PARTIAL,
        REFUSAL,
        TRUNCATED,
        Classifier,
        Verdict,
        is_refusal,
    )
    from audit.classify._registry import (
        classify_frame,
        classify_record,
        make_classifier,
        non_answer,
    )
    from audit.classify.rules import (
        Rule,
        RulesClassifier,
        Signals,
        contradicts,
        decide,
        normalise,
        read_signals,
    )
