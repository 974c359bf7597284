"""Judging ratio claims (``_ratio_claims``): the two targets' units, their ratio with its
interval (paired or independent, ``_ratio``) and the verdict row; ``evaluate_ratio_claims``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from audit.stats import _ratio
from audit.stats._claim_words import whose_figure
from audit.stats._claims import CONSISTENT, CONTRADICTS
from audit.stats._compare import _keys, _matches, _metric_units, _target_is
from audit.stats._ratio_claims import RATIO_CLAIMS_COLUMNS, RatioClaim, load_ratio_claims
from audit.stats._stance_frame import STANCE_METRICS, normalise_stance, stance_units

__all__ = ["evaluate_ratio_claims", "ratio_between"]


def ratio_between(a: pd.DataFrame, b: pd.DataFrame, confidence: float, min_overlap: float,
                  n_resamples: int, seed: int) -> dict[str, Any]:
    """The ratio p_B/p_A of two metric-unit frames (``unit``, ``sample``, ``topic``, ``y``):
    paired when at least ``min_overlap`` of the units match, else independent."""
    matched = _matches(_keys(a, b)) if len(a) and len(b) else (np.zeros(0, int),) * 2
    overlap = len(matched[0]) / max(len(a), len(b), 1)
    if len(matched[0]) and overlap >= min_overlap:
        at_a, at_b = matched
        per_topic = pd.DataFrame({"topic": a["topic"].array[at_a],
                                  "ya": a["y"].to_numpy(bool)[at_a].astype(float),
                                  "yb": b["y"].to_numpy(bool)[at_b].astype(float)})
        g = per_topic.groupby("topic", sort=True, observed=True)[["ya", "yb"]].sum()
        paired = _ratio.ratio_ci_paired(g["ya"].to_numpy(), g["yb"].to_numpy(), confidence,
                                        n_resamples=n_resamples, seed=seed)
        n = float(len(at_a))
        return {"design": "paired", "ci": paired, "k_a": float(g["ya"].sum()), "n_a": n,
                "k_b": float(g["yb"].sum()), "n_b": n, "effective": None}
    ci, effective = _ratio.ratio_ci_units(a, b, confidence)
    return {"design": "independent", "ci": ci, "k_a": float(a["y"].sum()), "n_a": float(len(a)),
            "k_b": float(b["y"].sum()), "n_b": float(len(b)), "effective": effective}


class _Units:
    """Each target's metric units, built once (or given: ``built``, by target)."""

    def __init__(self, responses: pd.DataFrame, stance: pd.DataFrame | None,
                 built: Mapping[str, Mapping[str, pd.DataFrame]] | None = None) -> None:
        self.responses = responses
        self.stance = normalise_stance(stance) if stance is not None else None
        self._cache: dict[str, Mapping[str, pd.DataFrame]] = dict(built or {})

    def targets(self) -> set[str]:
        column = self.responses["target"]  # its distinct values (those of a categorical: observed)
        found = set(pd.Series(column.unique()).astype(str).str.strip())
        if self.stance is not None:
            found |= set(self.stance["target"])
        return found

    def get(self, target: str, metric: str) -> pd.DataFrame | None:
        if metric in STANCE_METRICS:
            return None if self.stance is None else stance_units(self.stance, metric, target)
        if target not in self._cache:
            rows = _target_is(self.responses["target"], target)
            self._cache[target] = _metric_units(self.responses, rows)
        return self._cache[target][metric]


def _bounds_verdict(claim: RatioClaim, low: float, high: float) -> str:
    """consistent / contradicts / inconclusive from the one-sided bounds of the ratio."""
    below, above = high < claim.value, low > claim.value
    if claim.relation == "<":
        return CONSISTENT if below else CONTRADICTS if above else "inconclusive"
    return CONSISTENT if above else CONTRADICTS if below else "inconclusive"


def _judge(claim: RatioClaim, target: str, a: pd.DataFrame, b: pd.DataFrame,
           confidence: float, settings: tuple[float, int, int]) -> dict[str, Any]:
    """The claims row of one claim for one (baseline, target) pair of targets."""
    alpha = 1.0 - confidence
    min_overlap, n_resamples, seed = settings
    got = ratio_between(a, b, 1.0 - 2.0 * alpha, min_overlap, n_resamples, seed)
    ci = got["ci"]
    row = {"estimate": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "test": ci.method,
           "k": got["k_b"], "n": got["n_b"], "design": got["design"], "p_value": math.nan}
    if math.isnan(ci.low) or math.isnan(ci.high):
        return row | {"verdict": "not evaluated — the ratio has no interval (no events in "
                                 f"{claim.baseline}, or fewer than {_ratio.MIN_TOPICS} topics)",
                      "detail": f"{claim.baseline} {got['k_a']:.0f}/{got['n_a']:.0f}, "
                                f"{target} {got['k_b']:.0f}/{got['n_b']:.0f}"}
    if got["effective"] is not None:
        side = "less" if claim.relation == "<" else "greater"
        k_b, n_b, k_a, n_a = got["effective"]
        row["p_value"] = _ratio.ratio_test_independent(k_b, n_b, k_a, n_a, claim.value,
                                                       side).p_value
    verdict = _bounds_verdict(claim, ci.low, ci.high)
    level = f"{confidence:.0%}"
    detail = (f"ratio {ci.estimate:.3g} ({target} {got['k_b']:.0f}/{got['n_b']:.0f} vs "
              f"{claim.baseline} {got['k_a']:.0f}/{got['n_a']:.0f}, {got['design']}); one-sided "
              f"{level} bounds {ci.low:.3g} and {ci.high:.3g} vs claimed {claim.relation} "
              f"{claim.value:.3g}")
    return row | {"verdict": verdict, "detail": detail,
                  "explanation": _explain(claim, target, verdict.split(" ")[0], ci, level)}


def _explain(claim: RatioClaim, target: str, kind: str, ci: Any, level: str) -> str:
    """The verdict in one plain sentence."""
    who, subject = whose_figure(claim.source)
    what = claim.metric.replace("_", " ")
    side = "below" if claim.relation == "<" else "above"
    upper = (claim.relation == "<") == (kind != "contradicts")  # which bound decides
    bound = ci.high if upper else ci.low
    head = (f"{who}: {what} {side} {claim.value:.3g} times that of the baseline; this audit "
            f"compared {target} with {claim.baseline}")
    means = {"consistent": f"{target} meets that figure against {claim.baseline}",
             "contradicts": f"{target} does not meet that figure against {claim.baseline}",
             "inconclusive": "this sample cannot tell"}.get(kind, "")
    return (f"{head}; the verdict, {kind}, rests on the ratio's one-sided {level} "
            f"{'upper' if upper else 'lower'} bound {bound:.3g}, so {means} — this says nothing about {subject} itself.")


def _skipped(claim: RatioClaim, target: str, why: str) -> dict[str, Any]:
    return {"target": target, "verdict": f"not evaluated — {why}"}


def _claim_rows(claim: RatioClaim, units: _Units, confidence: float,
                settings: tuple[float, int, int]) -> list[dict[str, Any]]:
    """Rows of one claim: one per compared target (or one saying why it was not evaluated)."""
    found = units.targets()
    if claim.baseline not in found:
        return [_skipped(claim, claim.target, f"baseline {claim.baseline!r} is not a target of "
                         f"this run ({', '.join(sorted(found))}): set baseline (and target) to "
                         "your targets' names in your claims file")]
    others = [claim.target] if claim.target else sorted(found - {claim.baseline})
    rows = []
    for target in others:
        a, b = units.get(claim.baseline, claim.metric), units.get(target, claim.metric)
        if target not in found:
            rows.append(_skipped(claim, target, f"target {target!r} is not in this run"))
        elif a is None or b is None:
            rows.append(_skipped(claim, target, "no stance.csv: configure a [stance] judge"))
        else:
            rows.append(_judge(claim, target, a, b, confidence, settings) | {"target": target})
    return rows


def _evaluate(responses: pd.DataFrame, claims: list[RatioClaim], stance: pd.DataFrame | None,
             confidence: float, n_resamples: int | None, seed: int | None, min_overlap: float,
             built: Mapping[str, Mapping[str, pd.DataFrame]] | None = None) -> pd.DataFrame:
    """``_ratio_claims.evaluate_ratio_claims`` on parsed ratio claims."""
    units = _Units(responses, stance, built)
    settings = (min_overlap, n_resamples or _ratio.DEFAULT_RESAMPLES,
                _ratio.DEFAULT_SEED if seed is None else seed)
    rows = []
    for claim in claims:
        base = {"claim": claim.text, "source": claim.source, "metric": claim.metric,
                "reference": claim.value, "margin": math.nan, "baseline": claim.baseline,
                "classifier_check": ""}
        rows += [base | row for row in _claim_rows(claim, units, confidence, settings)]
    out = pd.DataFrame(rows, columns=RATIO_CLAIMS_COLUMNS)
    out["more_needed"] = out["more_needed"].astype("Int64")
    return out


def evaluate_ratio_claims(
    responses: pd.DataFrame,
    claims: Iterable[Any] | None = None,
    *,
    stance: pd.DataFrame | None = None,
    confidence: float = 0.95,
    n_resamples: int | None = None,
    seed: int | None = None,
    min_overlap: float = 0.5,
    target_units: Mapping[str, Mapping[str, pd.DataFrame]] | None = None,
) -> pd.DataFrame:
    """Verdicts on the ratio claims among ``claims`` (default: the packaged references).

    ``responses``: the labelled responses frame holding the targets (two runs: concatenate them
    with distinct ``target`` names); ``stance``: the stance.csv frame, needed for the stance
    metrics. Other claims in ``claims`` are skipped. Returns ``RATIO_CLAIMS_COLUMNS``
    (claims.csv's columns plus ``baseline`` and ``design``), one row per claim × compared
    target. ``target_units``: each target's metric units already built from the normalised
    frame of ``responses`` (``audit.stats._compare.target_units``), used instead of normalising
    and pairing each target's rows again.
    """
    picked = [c for c in (load_ratio_claims() if claims is None else claims)
              if isinstance(c, RatioClaim)]
    return _evaluate(responses, picked, stance, confidence, n_resamples, seed, min_overlap,
                     target_units)
