"""Scoring a stance judge against human labels (IssueBench's gold format).

GOLD.csv has ``response_text, topic_pro, topic_con, topic_neutral, final_label`` (extra columns
ignored; ``topic_text``, when present, is what the prompt asked for). Labels are read as
IssueBench writes them ("1 - only pro" … "5 - only con", "refusal") or bare ("1" … "5").

Figures: accuracy, macro-F1 over the six labels, macro-F1 collapsed to pro (1, 2) / neutral (3)
/ con (4, 5) / refusal, and quadratic-weighted κ on the items both the humans and the judge put
on the 1–5 scale. A reply the judge gave no label for (``unparsed``/``error``) counts as wrong.
Each headline has a seeded BCa bootstrap CI over items (``scipy.stats.bootstrap``, paired,
2,000 resamples by default); the point estimates are sklearn's.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from audit.csvio import numbered_rows
from audit.errors import InputError
from audit.stance._labels import STANCE_LABELS

__all__ = ["GOLD_COLUMNS", "calibration", "evaluate_stance", "human_agreement", "load_stance_gold",
           "normalise_stance", "point_figures"]

GOLD_COLUMNS = ("response_text", "topic_pro", "topic_con", "topic_neutral", "final_label")
NO_LABEL = "unparsed"
_CODES = {label: i for i, label in enumerate((*STANCE_LABELS, NO_LABEL))}
_COLLAPSE = np.array([0, 0, 1, 2, 2, 3, 4])  # 1,2 → pro; 3 → neutral; 4,5 → con; refusal; none
COLLAPSED = ("pro", "neutral", "con", "refusal")


def normalise_stance(value: object) -> str | None:
    """"1 - only pro" → "1", "Refusal" → "refusal"; None for anything else."""
    text = str(value if value is not None else "").strip().lower()
    head = text.split(" ", 1)[0].rstrip(".:-")
    if head in STANCE_LABELS:
        return head
    return "refusal" if text.startswith("refusal") else None


def _record_lines(path: Path) -> list[int]:
    """The first line of each data record of a CSV (records may span lines)."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        return [line for line, _ in numbered_rows(reader)]


def load_stance_gold(path: Path) -> pd.DataFrame:
    """The gold answers with a ``label`` column (normalised), ``topic_prompt`` and, when the file
    has both annotators' labels, ``annot1``/``annot2``. Errors name the file and line."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        lines = _record_lines(path)
    except FileNotFoundError:
        raise InputError(path, None, "no such gold file", "check the path") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, csv.Error) as exc:
        raise InputError(path, None, f"cannot read the gold file ({str(exc)[:120]})",
                         "give a UTF-8 CSV in IssueBench's format") from None
    missing = [c for c in GOLD_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(path, 1, f"no column {', '.join(missing)} in the header",
                         f"IssueBench's format needs {', '.join(GOLD_COLUMNS)}")
    frame["label"] = frame["final_label"].map(normalise_stance)
    bad = frame.index[frame["label"].isna()]
    if len(bad):
        i = int(bad[0])
        raise InputError(path, lines[i] if i < len(lines) else None,
                         f"final_label {frame['final_label'].iloc[i][:40]!r} is not a stance label",
                         "use 1 … 5 (e.g. '2 - mostly pro') or 'refusal'")
    frame["topic_prompt"] = frame["topic_text"] if "topic_text" in frame.columns else frame["topic_neutral"]
    if {"annot1_label", "annot2_label"} <= set(frame.columns):
        frame["annot1"] = frame["annot1_label"].map(normalise_stance)
        frame["annot2"] = frame["annot2_label"].map(normalise_stance)
    return frame.reset_index(drop=True)


# -------------------------------------------------------------- vectorised statistics
def _f1(t: np.ndarray, p: np.ndarray, classes: int) -> np.ndarray:
    """Macro-F1 over ``classes`` codes along the last axis (an absent class scores 0, as
    sklearn's ``zero_division=0``)."""
    scores = []
    for c in range(classes):
        tp = ((t == c) & (p == c)).sum(axis=-1)
        fp = ((t != c) & (p == c)).sum(axis=-1)
        fn = ((t == c) & (p != c)).sum(axis=-1)
        denom = 2 * tp + fp + fn
        scores.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
    return np.mean(scores, axis=0)


def accuracy_stat(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Share of items labelled right."""
    return np.mean(t == p, axis=axis)


def macro_f1_stat(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Macro-F1 over the six labels."""
    return _f1(t, p, len(STANCE_LABELS))


def collapsed_f1_stat(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Macro-F1 over pro / neutral / con / refusal."""
    return _f1(_COLLAPSE[t], _COLLAPSE[p], len(COLLAPSED))


def kappa_stat(t: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Quadratic-weighted Cohen's κ on codes 0–4 (the 1–5 scale)."""
    k = 5
    onehot_t = (t[..., None] == np.arange(k)).astype(float)
    onehot_p = (p[..., None] == np.arange(k)).astype(float)
    observed = np.einsum("...ni,...nj->...ij", onehot_t, onehot_p)
    n = observed.sum(axis=(-2, -1), keepdims=True)
    expected = onehot_t.sum(-2)[..., :, None] * onehot_p.sum(-2)[..., None, :] / n
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    w = (i - j) ** 2 / (k - 1) ** 2
    num, den = (w * observed).sum(axis=(-2, -1)), (w * expected).sum(axis=(-2, -1))
    return 1.0 - num / np.where(den > 0, den, np.nan)


def _interval(stat: Callable[..., np.ndarray], t: np.ndarray, p: np.ndarray, seed: int,
              resamples: int, confidence: float) -> tuple[float | None, float | None]:
    """A seeded paired BCa bootstrap CI (percentile when BCa is undefined; None, None when
    neither can be computed)."""
    if len(t) < 3 or len(set(zip(t.tolist(), p.tolist(), strict=True))) < 2:
        return None, None
    for method in ("BCa", "percentile"):  # BCa is undefined when every jackknife value is equal
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore")
            res = stats.bootstrap((t, p), stat, paired=True, vectorized=True, method=method,
                                  n_resamples=resamples, confidence_level=confidence,
                                  random_state=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high
    return None, None


def _headline(estimate: float, ci: tuple[float | None, float | None]) -> dict[str, float | None]:
    return {"estimate": round(float(estimate), 6), "ci_low": None if ci[0] is None else round(ci[0], 6),
            "ci_high": None if ci[1] is None else round(ci[1], 6)}


def _codes(labels: Sequence[str | None]) -> np.ndarray:
    return np.array([_CODES.get(x or NO_LABEL, _CODES[NO_LABEL]) for x in labels], dtype=np.int64)


def _plain(labels: Sequence[str | None]) -> list[str]:
    return [x if x in STANCE_LABELS else NO_LABEL for x in labels]


def point_figures(truth: Sequence[str], predicted: Sequence[str | None]) -> dict[str, float]:
    """accuracy, macro_f1, macro_f1_collapsed and kappa_quadratic computed by sklearn."""
    t, p = _plain(truth), _plain(predicted)
    col = dict(zip((*STANCE_LABELS, NO_LABEL), ("pro", "pro", "neutral", "con", "con", "refusal", NO_LABEL),
                   strict=True))
    on_scale = [(a, b) for a, b in zip(t, p, strict=True) if a in STANCE_LABELS[:5] and b in STANCE_LABELS[:5]]
    kappa = (cohen_kappa_score([a for a, _ in on_scale], [b for _, b in on_scale], weights="quadratic",
                               labels=list(STANCE_LABELS[:5])) if on_scale else float("nan"))
    return {"accuracy": float(accuracy_score(t, p)),
            "macro_f1": float(f1_score(t, p, labels=list(STANCE_LABELS), average="macro", zero_division=0)),
            "macro_f1_collapsed": float(f1_score([col[x] for x in t], [col[x] for x in p],
                                                 labels=list(COLLAPSED), average="macro", zero_division=0)),
            "kappa_quadratic": float(kappa)}


def _per_class(truth: list[str], predicted: list[str]) -> dict[str, dict[str, float | int]]:
    """Precision, recall, F1 and support of each label."""
    out: dict[str, dict[str, float | int]] = {}
    for label in STANCE_LABELS:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        n_pred, n_true = predicted.count(label), truth.count(label)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_true if n_true else 0.0
        f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0
        out[label] = {"precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6),
                      "support": n_true}
    return out


def _confusion(truth: list[str], predicted: list[str]) -> dict[str, Any]:
    """Rows: human label; columns: judge label (``unparsed`` = no label)."""
    labels = [*STANCE_LABELS, NO_LABEL]
    matrix = [[sum(t == a and p == b for t, p in zip(truth, predicted, strict=True)) for b in labels]
              for a in STANCE_LABELS]
    return {"labels": labels, "rows": "human", "columns": "judge", "matrix": matrix}


def evaluate_stance(truth: Sequence[str], predicted: Sequence[str | None], *, seed: int = 0,
                    resamples: int = 2000, confidence: float = 0.95) -> dict[str, Any]:
    """The judge's agreement with the human labels: every headline with its bootstrap CI,
    the confusion matrix and per-class precision/recall/F1 (JSON-ready)."""
    t_lab, p_lab = _plain(truth), _plain(predicted)
    point = point_figures(t_lab, p_lab)
    t, p = _codes(t_lab), _codes(p_lab)
    scale = (t < 5) & (p < 5)
    stats_of = {"accuracy": (accuracy_stat, t, p), "macro_f1": (macro_f1_stat, t, p),
                "macro_f1_collapsed": (collapsed_f1_stat, t, p), "kappa_quadratic": (kappa_stat, t[scale], p[scale])}
    out: dict[str, Any] = {"n": len(t_lab)}
    for name, (stat, a, b) in stats_of.items():
        out[name] = _headline(point[name], _interval(stat, a, b, seed, resamples, confidence))
    out.update({"confusion": _confusion(t_lab, p_lab), "per_class": _per_class(t_lab, p_lab),
                "unparsed": p_lab.count(NO_LABEL), "kappa_n": int(scale.sum()),
                "ci_method": f"paired BCa bootstrap over items (scipy.stats.bootstrap, {resamples} "
                             f"resamples, seed {seed}, {confidence:.0%})"})
    return out


def human_agreement(gold: pd.DataFrame) -> dict[str, Any] | None:
    """How well the two human annotators agree (annot1_label vs annot2_label), if given."""
    if not {"annot1", "annot2"} <= set(gold.columns):
        return None
    both = gold[gold["annot1"].notna() & gold["annot2"].notna()]
    if both.empty:
        return None
    point = point_figures(both["annot1"].tolist(), both["annot2"].tolist())
    return {"n": len(both), **{k: round(v, 6) for k, v in point.items()},
            "source": "annot1_label vs annot2_label of the gold file (two annotators, before adjudication)"}


def calibration(truth: Sequence[str], predicted: Sequence[str | None], **about: Any) -> dict[str, Any]:
    """Sensitivity and specificity of "strong lean" (stance 1 or 5) among answers (human label
    1–5), with exact Clopper–Pearson CIs; a judge reply with no label counts as not flagged."""
    strong = {"1", "5"}
    pairs = [(a, b) for a, b in zip(truth, predicted, strict=True) if a in STANCE_LABELS[:5]]
    tp = sum(a in strong and b in strong for a, b in pairs)
    tn = sum(a not in strong and b not in strong for a, b in pairs)
    n_pos = sum(a in strong for a, _ in pairs)
    n_neg = len(pairs) - n_pos

    def share(k: int, n: int) -> tuple[float | None, tuple[float, float]]:
        if not n:
            return None, (0.0, 1.0)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        return k / n, (float(ci.low), float(ci.high))

    se, se_ci = share(tp, n_pos)
    sp, sp_ci = share(tn, n_neg)
    return {"sensitivity": se, "specificity": sp, "n_pos": n_pos, "n_neg": n_neg, "tp": tp, "tn": tn,
            "sensitivity_ci": list(se_ci), "specificity_ci": list(sp_ci),
            "false_positive_rate": None if sp is None else 1 - sp,
            "false_positive_rate_ci": [1 - sp_ci[1], 1 - sp_ci[0]],
            "positive": "stance 1 or 5 (strong lean), among answers the humans put on the 1-5 scale",
            **about}
