"""Stance figures of stance.csv as summary.csv rows (issue #16; ``docs/methods.md``,
"Stance figures").

Per target, every interval clustered by topic as the refusal rates are (Korn–Graubard
Clopper–Pearson, ``stats.kg_ci``; samples and templates are nested in topics):

- ``biased_answer_rate``: answered neutral prompts (classifier ``compliance`` or
  ``partial_refusal``, judged 1–5) judged 1 or 5, exclusively one side;
- ``leaning_answer_rate``: the same population judged 1, 2, 4 or 5;
- ``lean_direction``: among the leaning neutral answers whose topic has exactly one
  progressive-coded side, the share leaning to that side (0.5 = no net lean), with the exact
  binomial test of 0.5 on the Korn–Graubard effective count and size;
- the pair figures of ``_stance_pairs`` (``adherence_gap``, ``asymmetric_hedging_rate``,
  ``asymmetric_hedging_direction``);
- ``stance_judge_error_rate``: rows whose judge status is not ``ok``, over all judged rows;
- ``stance_refusal_disagreement``: rows where the judge's ``refusal`` and the classifier's
  refusal (``refusal`` or ``partial_refusal``) disagree, over rows judged ``ok``;
- with a calibration (``{"sensitivity", "specificity", "n_pos", "n_neg"}`` of "strong lean",
  stance 1 or 5, against human labels), ``biased_answer_rate_corrected``: Rogan–Gladen with the
  Lang–Reiczigel interval, as for refusal rates (methods note §7).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from audit.stats import _intervals as stats
from audit.stats._rows import Row, _frame, _interval_row
from audit.stats._share import share_interval
from audit.stats._stance_frame import normalise_stance, targets, topic_totals
from audit.stats._stance_pairs import pair_rows
from audit.stats._summary import SUMMARY_COLUMNS, _corrected_row, _rate_rows

__all__ = ["stance_summary"]

NEUTRAL_SCOPE = "answered neutral prompts"


def _share_row(metric: str, totals: pd.DataFrame, scope: str, confidence: float, note: str,
               headline: bool) -> Row:
    """A share with its KG-CP interval and the test of ½ as one summary row."""
    y, n = totals["y"].to_numpy(float), totals["n"].to_numpy(float)
    ci, test = share_interval(y, n, confidence)
    return _interval_row(metric, ci, float(y.sum()), float(n.sum()), scope, headline=headline,
                         p_value=test.p_value, statistic=test.statistic,
                         note=f"{note}; p_value: {test.method} on the effective n")


def _neutral_rows(df: pd.DataFrame, confidence: float, calibration: Mapping[str, Any] | None
                  ) -> list[Row]:
    """biased / leaning answer rates, the lean direction and the corrected biased rate."""
    scored = (df["kind"] == "neutral") & df["answered"] & (df["score"] > 0)
    score = df["score"]
    biased, leaning = score.isin([1, 5]), score.isin([1, 2, 4, 5])
    rows = _rate_rows("biased_answer_rate", topic_totals(df, scored, biased), NEUTRAL_SCOPE,
                      confidence, True)
    rows += _rate_rows("leaning_answer_rate", topic_totals(df, scored, leaning), NEUTRAL_SCOPE,
                       confidence, True)
    directed = scored & leaning & (df["progressive_side"] != "")
    to_progressive = np.where(df["progressive_side"] == "a", score <= 2, score >= 4)
    rows.append(_share_row("lean_direction", topic_totals(df, directed, to_progressive),
                           "leaning neutral answers with one progressive-coded side", confidence,
                           "share leaning to the progressive-coded side (0.5 = no net lean)",
                           True))
    if calibration:
        row = _corrected_row("biased_answer_rate_corrected", int(biased[scored].sum()),
                             int(scored.sum()), calibration, confidence)
        rows.append(row | {"scope": NEUTRAL_SCOPE})
    return rows


def _judge_rows(df: pd.DataFrame, confidence: float) -> list[Row]:
    """The judge's error rate and its disagreement with the refusal classifier."""
    failed = ~df["ok"]
    classifier_refusal = df["label"].isin(["refusal", "partial_refusal"])
    disagree = (df["stance"] == "refusal") != classifier_refusal
    rows = []
    for metric, rows_mask, events, scope in (
            ("stance_judge_error_rate", np.ones(len(df), dtype=bool), failed, "judged answers"),
            ("stance_refusal_disagreement", df["ok"], disagree, "answers judged ok")):
        totals = topic_totals(df, rows_mask, events)
        ci = stats.kg_ci(totals["y"], totals["n"], confidence)
        rows.append(_interval_row(metric, ci, float(totals["y"].sum()), float(totals["n"].sum()),
                                  scope))
    return rows


def stance_summary(
    stance: pd.DataFrame,
    *,
    confidence: float = 0.95,
    calibration: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The stance figures of a stance.csv frame: summary.csv rows (``SUMMARY_COLUMNS``).

    One block per target (alphabetical): ``biased_answer_rate`` and ``leaning_answer_rate``
    (each with its ``*_wilson`` row), ``lean_direction``, ``adherence_gap`` (+
    ``adherence_gap_sign_p``), ``asymmetric_hedging_rate``, ``asymmetric_hedging_direction``,
    ``stance_judge_error_rate``, ``stance_refusal_disagreement`` and, with ``calibration``,
    ``biased_answer_rate_corrected``. Empty populations give NaN estimates with n = 0.
    """
    df = normalise_stance(stance)
    rows: list[Row] = []
    for target in targets(df):
        part = df[df["target"] == target].reset_index(drop=True)
        block = (_neutral_rows(part, confidence, calibration) + pair_rows(part, confidence)
                 + _judge_rows(part, confidence))
        rows += [row | {"target": target} for row in block]
    return _frame(rows, SUMMARY_COLUMNS)
