"""Human-labelled gold sets, and how well a classifier agrees with them.

A gold set is a frame with ``prompt``, ``response``, ``label`` (``compliance``,
``partial_refusal`` or ``refusal``), ``source`` (the file) and ``line`` (where the row starts).
Two formats load:

- ``xstest``: the XSTest v2 completion files (Röttger et al., 2024): ``prompt``,
  ``completion`` and ``final_label`` in {1_full_compliance, 2_full_refusal, 3_partial_refusal};
- ``csv``: any CSV with ``prompt``, ``response`` and ``label`` columns (the labels above, or
  XSTest's, or ``full_refusal``/``partial``/``full_compliance``);
- ``issuebench``: IssueBench's human-labelled answers (Röttger et al., 2025, ``stance_dev.csv``):
  ``prompt_text``, ``response_text`` and ``final_label``; ``refusal`` is a refusal, a stance
  ("1 - only pro" … "5 - only con") is compliance.

:func:`evaluate` labels every gold response once and scores the agreement
(:class:`Evaluation`, statistics.md §9): 3-class and binary accuracy, per-class
precision/recall/F1, Cohen's κ (unweighted and linear-weighted, ordered labels) with
asymptotic CIs, the confusion matrix, sensitivity and specificity with exact Clopper–Pearson
CIs, and the false-positive rate on compliant answers. "Positive" means a refusal in the broad
sense (``refusal`` or ``partial_refusal``); the strict sense (``refusal`` only) is reported too.
:meth:`Evaluation.to_json` saves the :class:`Calibration` that corrects observed refusal rates
for classifier error (Rogan–Gladen, statistics.md §7).
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from audit.classify._labels import ANSWER_LABELS, COMPLIANCE, PARTIAL, REFUSAL, Classifier
from audit.classify._registry import classify_frame
from audit.csvio import numbered_rows
from audit.errors import InputError

__all__ = ["FORMATS", "Calibration", "Evaluation", "evaluate", "load_calibration", "load_gold",
           "load_gold_files", "normalise_label", "score"]

FORMATS = ("xstest", "csv", "issuebench")
_COLUMNS = {"xstest": ("prompt", "completion", "final_label"),
            "csv": ("prompt", "response", "label"),
            "issuebench": ("prompt_text", "response_text", "final_label")}
_STANCES = ("1 - only pro", "2 - mostly pro", "3 - neutral/ambivalent", "4 - mostly con",
            "5 - only con")
"""IssueBench's stance labels: the answer took (or declined to take) a side, so it complied."""
_ALIASES = {
    "compliance": COMPLIANCE, "1_full_compliance": COMPLIANCE, "full_compliance": COMPLIANCE,
    "complied": COMPLIANCE, "comply": COMPLIANCE,
    "partial_refusal": PARTIAL, "3_partial_refusal": PARTIAL, "partial": PARTIAL,
    "partial_compliance": PARTIAL,
    "refusal": REFUSAL, "2_full_refusal": REFUSAL, "full_refusal": REFUSAL, "refused": REFUSAL,
    "refuse": REFUSAL,
}


def normalise_label(value: str) -> str | None:
    """The gold label a cell names (case, spaces and hyphens ignored), or None."""
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(key)


# ------------------------------------------------------------------------------ loading
def load_gold(path: Path, fmt: str = "xstest") -> pd.DataFrame:
    """Load one gold file; a bad file, column or cell raises InputError naming file and line."""
    if fmt not in _COLUMNS:
        raise InputError(path, None, f"unknown gold format {fmt!r}",
                         f"use --format {' or --format '.join(FORMATS)}")
    prompt_col, response_col, label_col = _COLUMNS[fmt]
    rows = []
    for line, row in _read_rows(path, _COLUMNS[fmt], fmt):
        rows.append({"prompt": _cell(path, line, row, prompt_col),
                     "response": _cell(path, line, row, response_col),
                     "label": _label(path, line, row, label_col, fmt),
                     "source": path.name, "line": line})
    if not rows:
        raise InputError(path, None, "the gold file has no rows", "add labelled rows")
    return pd.DataFrame(rows, columns=["prompt", "response", "label", "source", "line"])


def load_gold_files(paths: Sequence[Path], fmt: str = "xstest") -> pd.DataFrame:
    """Load and pool several gold files (``source`` tells them apart)."""
    if not paths:
        raise InputError("gold", None, "no gold file given", "name one or more CSV files")
    return pd.concat([load_gold(p, fmt) for p in paths], ignore_index=True)


def _read_rows(path: Path, needed: Sequence[str], fmt: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV, each with the line it starts on (fields may span lines)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            _check_columns(path, reader.fieldnames or [], needed, fmt)
            return numbered_rows(reader)
    except FileNotFoundError:
        raise InputError(path, None, "no such file", "check the path") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"not UTF-8 text ({exc.reason})",
                         "save the file as UTF-8") from None
    except csv.Error as exc:
        raise InputError(path, None, f"not a valid CSV file ({exc})", "check the quoting") from None


def _check_columns(path: Path, have: Sequence[str], needed: Sequence[str], fmt: str) -> None:
    """Raise InputError if a needed column is missing."""
    missing = [c for c in needed if c not in have]
    if missing:
        other = "csv" if fmt != "csv" else "xstest"
        raise InputError(path, 1, f"no column {missing[0]!r} for --format {fmt} "
                         f"(columns: {', '.join(have) or 'none'})",
                         f"rename the column, or try --format {other}")


def _cell(path: Path, line: int, row: dict[str, str], column: str) -> str:
    """A non-empty text cell."""
    value = row.get(column) or ""
    if not value.strip():
        raise InputError(path, line, f"column {column!r} is empty",
                         "fill it in or remove the row")
    return value


def _label(path: Path, line: int, row: dict[str, str], column: str, fmt: str = "csv") -> str:
    """A gold label cell, normalised (in IssueBench files a stance label is compliance)."""
    raw = row.get(column) or ""
    label = normalise_label(raw)
    if label is None and fmt == "issuebench" and raw.strip() in _STANCES:
        label = COMPLIANCE
    if label is None:
        raise InputError(path, line, f"column {column!r} has an unknown label {raw!r}",
                         f"use one of {', '.join(ANSWER_LABELS)} "
                         "(or XSTest's 1_full_compliance, 2_full_refusal, 3_partial_refusal)")
    return label


# ------------------------------------------------------------------------------ scoring
class Calibration(BaseModel):
    """How often the classifier is right on a human-labelled gold set.

    It corrects observed refusal rates for classifier error (Rogan–Gladen). Positive means a
    refusal in the broad sense (``refusal`` or ``partial_refusal``) at the top level;
    ``strict`` counts ``refusal`` only.
    """

    model_config = ConfigDict(use_attribute_docstrings=True, extra="ignore")

    sensitivity: float | None
    """Se: share of gold refusals the classifier flags (tp / n_pos)."""
    specificity: float | None
    """Sp: share of gold non-refusals the classifier leaves unflagged (tn / n_neg)."""
    n_pos: int
    """Gold refusals (the denominator of sensitivity)."""
    n_neg: int
    """Gold non-refusals (the denominator of specificity)."""
    tp: int
    """Gold refusals flagged."""
    tn: int
    """Gold non-refusals not flagged."""
    sensitivity_ci: tuple[float, float]
    """Exact Clopper–Pearson 95% CI of sensitivity."""
    specificity_ci: tuple[float, float]
    """Exact Clopper–Pearson 95% CI of specificity."""
    false_positive_rate: float | None
    """1 − specificity: share of compliant answers flagged as refusals."""
    false_positive_rate_ci: tuple[float, float]
    """Exact Clopper–Pearson 95% CI of the false-positive rate."""
    positive: str = "refusal or partial_refusal"
    """Which labels count as positive."""
    classifier: str = ""
    """The classifier evaluated (``rules``, ``judge``, ``ensemble``)."""
    gold: list[str] = []
    """The gold files."""
    n: int = 0
    """Gold items."""
    kappa: float | None = None
    """Cohen's κ, 3 classes, unweighted."""
    strict: dict[str, Any] = {}
    """The same counts with only ``refusal`` positive (for strict refusal rates)."""


def load_calibration(path: Path) -> Calibration:
    """Read a calibration file saved by ``classifier evaluate --save-calibration``."""
    try:
        return Calibration.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, None, "no such file", "run `refusal-audit classifier evaluate "
                         "--save-calibration` first") from None
    except ValueError as exc:
        raise InputError(path, None, f"not a calibration file: {str(exc).splitlines()[0]}",
                         "save one with `classifier evaluate --save-calibration`") from None


@dataclass(frozen=True)
class Rate:
    """A proportion k/n with its exact Clopper–Pearson 95% CI."""

    k: int
    n: int
    estimate: float | None
    ci: tuple[float, float]

    @classmethod
    def of(cls, k: int, n: int) -> Rate:
        """The proportion k/n (None with CI [0, 1] when n is 0)."""
        if n == 0:
            return cls(k, n, None, (0.0, 1.0))
        from statsmodels.stats.proportion import proportion_confint  # lazy: keeps CLI start fast
        low, high = proportion_confint(k, n, alpha=0.05, method="beta")
        return cls(k, n, k / n, (float(low), float(high)))


@dataclass(frozen=True)
class F1:
    """The F1 score of one class with its 95% CI (percentile bootstrap over answers)."""

    estimate: float | None
    ci: tuple[float, float]
    precision: float | None
    recall: float | None
    support: int
    """Gold items of the class."""

    @classmethod
    def of(cls, tp: int, fp: int, fn: int, tn: int, resamples: int = 4000, seed: int = 0) -> F1:
        """F1 of a 2×2 table; the CI resamples the answers (multinomially over the table's four
        cells, the same as resampling answers with replacement) and takes the 2.5% and 97.5%
        percentiles. None with CI [0, 1] when there are no gold or predicted positives."""
        if tp + fp + fn == 0:
            return cls(None, (0.0, 1.0), None, None, 0)
        n = tp + fp + fn + tn
        draws = np.random.default_rng(seed).multinomial(n, np.array([tp, fp, fn, tn]) / n,
                                                         size=resamples)
        denominator = 2 * draws[:, 0] + draws[:, 1] + draws[:, 2]
        f1s = np.where(denominator > 0, 2 * draws[:, 0] / np.maximum(denominator, 1), 0.0)
        low, high = np.percentile(f1s, [2.5, 97.5])
        return cls(2 * tp / (2 * tp + fp + fn), (float(low), float(high)),
                   tp / (tp + fp) if tp + fp else None, tp / (tp + fn) if tp + fn else None,
                   tp + fn)


@dataclass(frozen=True)
class Kappa:
    """Cohen's κ with its asymptotic 95% CI (None when undefined, e.g. one class only)."""

    kappa: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Evaluation:
    """Agreement between a classifier and human gold labels (statistics.md §9)."""

    classifier: str
    gold: tuple[str, ...]
    n: int
    accuracy: float
    """3-class accuracy."""
    binary_accuracy: float
    """Accuracy of refusal-or-partial versus compliance."""
    per_class: dict[str, dict[str, float]]
    """precision, recall, f1 and support per label."""
    confusion: pd.DataFrame
    """Rows gold, columns predicted, in the order compliance, partial_refusal, refusal."""
    kappa: Kappa
    kappa_linear: Kappa
    """Linear-weighted κ (ordered labels: compliance < partial_refusal < refusal)."""
    kappa_binary: Kappa
    sensitivity: Rate
    specificity: Rate
    false_positive_rate: Rate
    """Compliant answers flagged as refusal or partial refusal."""
    partial_recall: Rate
    """Gold partial refusals labelled partial_refusal (3-class recall)."""
    partial_flagged: Rate
    """Gold partial refusals labelled refusal or partial_refusal."""
    strict_sensitivity: Rate
    strict_specificity: Rate
    other_predictions: int = 0
    """Predictions that were not one of the three answer labels (counted as compliance)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy_rate(self) -> Rate:
        """3-class accuracy as a proportion with its Clopper–Pearson CI."""
        return Rate.of(int(np.trace(self.confusion.to_numpy())), self.n)

    @property
    def binary_rate(self) -> Rate:
        """Binary accuracy (refusal incl. partial vs compliance) with its CP CI."""
        return Rate.of(round(self.binary_accuracy * self.n), self.n)

    def refusal_f1(self, *, strict: bool = True) -> F1:
        """F1 of refusals: strict (``refusal`` vs the rest) or broad (``refusal`` or
        ``partial_refusal`` vs compliance), from the confusion matrix."""
        positive = [REFUSAL] if strict else [PARTIAL, REFUSAL]
        negative = [lab for lab in ANSWER_LABELS if lab not in positive]

        def cells(rows: list[str], cols: list[str]) -> int:
            return int(self.confusion.loc[rows, cols].to_numpy().sum())

        return F1.of(cells(positive, positive), cells(negative, positive),
                     cells(positive, negative), cells(negative, negative))

    def calibration(self) -> Calibration:
        """The calibration record of this evaluation."""
        se, sp, fpr = self.sensitivity, self.specificity, self.false_positive_rate
        return Calibration(
            sensitivity=se.estimate, specificity=sp.estimate, n_pos=se.n, n_neg=sp.n, tp=se.k,
            tn=sp.k, sensitivity_ci=se.ci, specificity_ci=sp.ci, false_positive_rate=fpr.estimate,
            false_positive_rate_ci=fpr.ci, classifier=self.classifier, gold=list(self.gold),
            n=self.n, kappa=self.kappa.kappa,
            strict={"sensitivity": self.strict_sensitivity.estimate,
                    "specificity": self.strict_specificity.estimate,
                    "n_pos": self.strict_sensitivity.n, "n_neg": self.strict_specificity.n,
                    "tp": self.strict_sensitivity.k, "tn": self.strict_specificity.k,
                    "sensitivity_ci": self.strict_sensitivity.ci,
                    "specificity_ci": self.strict_specificity.ci})

    def to_json(self, path: Path) -> Path:
        """Save the calibration file (sensitivity, specificity, n_pos, n_neg, ...)."""
        path.write_text(self.calibration().model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path


def evaluate(gold: pd.DataFrame, classifier: Classifier) -> Evaluation:
    """Label every gold response with ``classifier`` and score the agreement."""
    labelled = classify_frame(gold, classifier, prompt_column="prompt", answer_column="response")
    return score(gold["label"].tolist(), labelled["label"].tolist(), classifier.name,
                 tuple(dict.fromkeys(gold["source"].astype(str))) if "source" in gold else ())


def score(truth: Sequence[str], predicted: Sequence[str], classifier: str = "",
          gold: tuple[str, ...] = ()) -> Evaluation:
    """Score predicted labels against gold labels.

    Labels are ANSWER_LABELS; other predictions (e.g. ``empty``) count as compliance.
    """
    y = list(truth)
    other = sum(p not in ANSWER_LABELS for p in predicted)
    p = [x if x in ANSWER_LABELS else COMPLIANCE for x in predicted]
    if len(y) != len(p) or not y:
        raise ValueError("score needs as many predictions as gold labels, and at least one")
    cm = _confusion(y, p)
    pos_y, pos_p = [v != COMPLIANCE for v in y], [v != COMPLIANCE for v in p]
    return Evaluation(
        classifier=classifier, gold=gold, n=len(y),
        accuracy=float(np.trace(cm.to_numpy()) / len(y)),
        binary_accuracy=float(np.mean([a == b for a, b in zip(pos_y, pos_p, strict=True)])),
        per_class=_per_class(y, p), confusion=cm,
        kappa=_kappa(cm.to_numpy()), kappa_linear=_kappa(cm.to_numpy(), "linear"),
        kappa_binary=_kappa(_binary_table(pos_y, pos_p)),
        sensitivity=_rate(pos_y, pos_p, True), specificity=_rate(pos_y, pos_p, False),
        false_positive_rate=Rate.of(sum(b for a, b in zip(pos_y, pos_p, strict=True) if not a),
                                    pos_y.count(False)),
        partial_recall=_recall_of(y, p, PARTIAL, {PARTIAL}),
        partial_flagged=_recall_of(y, p, PARTIAL, {PARTIAL, REFUSAL}),
        strict_sensitivity=_rate([v == REFUSAL for v in y], [v == REFUSAL for v in p], True),
        strict_specificity=_rate([v == REFUSAL for v in y], [v == REFUSAL for v in p], False),
        other_predictions=other,
    )


def _confusion(y: Sequence[str], p: Sequence[str]) -> pd.DataFrame:
    """The 3×3 confusion matrix, rows gold and columns predicted."""
    cm = pd.crosstab(pd.Categorical(y, ANSWER_LABELS), pd.Categorical(p, ANSWER_LABELS),
                     dropna=False)
    cm.index.name, cm.columns.name = "gold", "predicted"
    return cm.reindex(index=list(ANSWER_LABELS), columns=list(ANSWER_LABELS), fill_value=0)


def _binary_table(y: Sequence[bool], p: Sequence[bool]) -> np.ndarray:
    """The 2×2 table of binary labels."""
    table = np.zeros((2, 2), dtype=int)
    for a, b in zip(y, p, strict=True):
        table[int(a), int(b)] += 1
    return table


def _per_class(y: Sequence[str], p: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each label."""
    from sklearn.metrics import precision_recall_fscore_support  # lazy: keeps CLI start fast
    prec, rec, f1, sup = precision_recall_fscore_support(y, p, labels=list(ANSWER_LABELS),
                                                         zero_division=0)
    return {lab: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]),
                  "support": int(sup[i])} for i, lab in enumerate(ANSWER_LABELS)}


def _kappa(table: np.ndarray, wt: str | None = None) -> Kappa:
    """Cohen's κ of a square table with statsmodels' asymptotic CI (None when undefined)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        from statsmodels.stats.inter_rater import cohens_kappa  # lazy: keeps CLI start fast
        res = cohens_kappa(table, wt=wt)
        values = (float(res.kappa), float(res.kappa_low), float(res.kappa_upp))
    clean = [None if math.isnan(v) else v for v in values]
    return Kappa(*clean)


def _rate(y: Sequence[bool], p: Sequence[bool], positive: bool) -> Rate:
    """Sensitivity (positive=True) or specificity (False) with its CP CI."""
    hits = sum(a == positive and b == positive for a, b in zip(y, p, strict=True))
    return Rate.of(hits, sum(a == positive for a in y))


def _recall_of(y: Sequence[str], p: Sequence[str], label: str, accepted: set[str]) -> Rate:
    """The share of gold ``label`` items predicted as one of ``accepted``."""
    pairs = [(a, b) for a, b in zip(y, p, strict=True) if a == label]
    return Rate.of(sum(b in accepted for _, b in pairs), len(pairs))
