"""The ratio of two rates, p_B / p_A, with a confidence interval (issue #16).

- **Paired** (the two targets, or runs, answered the same prompts): a topic-cluster bootstrap
  with BCa limits (``scipy.stats.bootstrap``, ``paired=True``, seeded, 2,000 resamples by
  default). The data are per-topic event counts of A and B on the matched units; a resample
  draws whole topics, so the correlation of the two models' answers on one prompt and of the
  prompts of one topic are both kept. The statistic is Σy_B / Σy_A (the matched units are the
  same for both, so the sizes cancel). Each limit is then widened to the cluster-robust
  log-ratio t interval (``log_ratio_t``) where that one is wider: with few events the BCa limits
  alone cover only about 0.92 (``bench/stance_coverage.py``; ``docs/methods.md``). With fewer
  than ``MIN_TOPICS`` (10) topics there is no paired interval.
- **Independent** (different prompts): the score interval of statsmodels,
  ``confint_proportions_2indep(k_B, n_B, k_A, n_A, compare="ratio", method="score")`` (Miettinen–
  Nurminen/Koopman), the inversion of ``test_proportions_2indep(..., compare="ratio",
  method="score")`` (``ratio_test_independent``). Under topic clustering the counts are the
  Korn–Graubard effective count and size of each run (``ratio_ci_units``: the n* of the
  summary's interval, with its t_{K−1} factor).

A ratio with no events in A has no finite estimate: the estimate is ``inf`` (or NaN when B has
none either) and the upper limit ``inf``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from audit.stats import _intervals as stats

__all__ = ["DEFAULT_RESAMPLES", "DEFAULT_SEED", "MIN_TOPICS", "kg_effective", "log_ratio_t",
           "ratio_ci_independent", "ratio_ci_paired", "ratio_ci_units", "ratio_test_independent"]

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 16
MIN_TOPICS = 10
"""Fewer topics give no paired interval: a bootstrap of a handful of clusters cannot reach
ratios beyond its most extreme topic and covers far below nominal (methods note §2)."""
_ALTERNATIVES = {"two-sided": "two-sided", "less": "smaller", "greater": "larger"}


def _ratio(k_b: float, n_b: float, k_a: float, n_a: float) -> float:
    """(k_B/n_B)/(k_A/n_A); inf when only A has no events, NaN when neither has any."""
    if n_a <= 0 or n_b <= 0 or (k_a <= 0 and k_b <= 0):
        return math.nan
    return math.inf if k_a <= 0 else (k_b / n_b) / (k_a / n_a)


def ratio_ci_independent(k_b: float, n_b: float, k_a: float, n_a: float,
                         confidence: float = 0.95) -> stats.Interval:
    """Score CI of p_B/p_A for independent samples (statsmodels, ``compare="ratio"``)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    method = "score ratio (independent)"
    estimate = _ratio(k_b, n_b, k_a, n_a)
    if math.isnan(estimate):
        return stats.Interval(estimate, math.nan, math.nan, method)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = confint_proportions_2indep(k_b, n_b, k_a, n_a, compare="ratio",
                                               method="score", alpha=1.0 - confidence)
    low = 0.0 if k_b <= 0 else float(low)  # statsmodels returns ~1e-15 for a true 0
    return stats.Interval(estimate, max(low, 0.0), float(high), method)


def ratio_test_independent(k_b: float, n_b: float, k_a: float, n_a: float, value: float,
                           alternative: str = "two-sided") -> stats.TestResult:
    """Score test of p_B/p_A = ``value`` against ``alternative`` (``less``, ``greater`` or
    ``two-sided``): ``test_proportions_2indep(..., compare="ratio", method="score")``."""
    from statsmodels.stats.proportion import test_proportions_2indep

    method = f"score ratio test ({alternative})"
    if n_a <= 0 or n_b <= 0 or (k_a <= 0 and k_b <= 0):
        return stats.TestResult(math.nan, math.nan, method)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = test_proportions_2indep(k_b, n_b, k_a, n_a, value=value, compare="ratio",
                                      method="score", alternative=_ALTERNATIVES[alternative])
    return stats.TestResult(float(res.statistic), float(res.pvalue), method)


def kg_effective(units: pd.DataFrame, confidence: float = 0.95) -> tuple[float, float, float]:
    """(k, x*, n*) of metric units (``topic``, ``y``): the events and the Korn–Graubard
    effective count and size of their topic totals (``stats.kg_ci``'s n*: N/DEFF·(z/t_{K−1})²,
    the n* of the summary's interval)."""
    if not len(units):
        return 0.0, 0.0, 0.0
    g = units.groupby("topic", sort=True, observed=True)["y"].agg(["sum", "size"]).astype(float)
    ci = stats.kg_ci(g["sum"].to_numpy(), g["size"].to_numpy(), confidence)
    return float(g["sum"].sum()), ci.estimate * ci.n_eff, ci.n_eff


def ratio_ci_units(a: pd.DataFrame, b: pd.DataFrame, confidence: float = 0.95
                   ) -> tuple[stats.Interval, tuple[float, float, float, float]]:
    """Independent score CI of p_B/p_A from two runs' metric units on their Korn–Graubard
    effective counts, and those counts (x*_B, n*_B, x*_A, n*_A) for the score test."""
    _, xa, na = kg_effective(a)
    _, xb, nb = kg_effective(b)
    ci = ratio_ci_independent(xb, nb, xa, na, confidence)
    method = f"{ci.method} on KG effective n (topic)"
    return stats.Interval(ci.estimate, ci.low, ci.high, method), (xb, nb, xa, na)


def _ratio_statistic(y_a: np.ndarray, y_b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Σy_B/Σy_A along ``axis`` (inf where Σy_A = 0 < Σy_B, NaN where both are 0)."""
    sum_a, sum_b = np.sum(y_a, axis=axis), np.sum(y_b, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(sum_b / sum_a)


def ratio_ci_paired(y_a: np.ndarray, y_b: np.ndarray, confidence: float = 0.95, *,
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
                    ) -> stats.ClusteredInterval:
    """Paired CI of Σy_B/Σy_A from per-topic counts on matched units: BCa topic-cluster
    bootstrap, each limit widened to the cluster-robust log-ratio interval when that is wider.

    ``y_a``/``y_b``: per-topic event counts of A and B on the same units. Needs ``MIN_TOPICS``
    topics and events in A. When BCa is undefined (a jackknife replicate without events in A)
    the percentile interval is used; the method names what was used.
    """
    y_a, y_b = np.asarray(y_a, dtype=float), np.asarray(y_b, dtype=float)
    clusters = len(y_a)
    label = f"bca cluster bootstrap(topic; {n_resamples} resamples, seed {seed})"
    estimate = float(_ratio_statistic(y_a, y_b)) if clusters else math.nan
    if clusters < MIN_TOPICS or not y_a.sum() > 0:
        why = f"fewer than {MIN_TOPICS} topics" if clusters < MIN_TOPICS else "no events in A"
        return stats.ClusteredInterval(estimate, math.nan, math.nan, f"{label}: {why}",
                                       math.nan, math.nan, clusters)
    low, high, method = _bootstrap(y_a, y_b, confidence, n_resamples, seed)
    if method == "percentile":
        label = label.replace("bca", "percentile") + " (BCa undefined)"
    elif method == "none":
        label += ": undefined (resamples without events)"
    log_low, log_high = log_ratio_t(y_a, y_b, confidence)
    if not math.isnan(log_low):
        low, high = np.nanmin([low, log_low]), np.nanmax([high, log_high])
        label += " ∪ log-ratio cluster-t"
    return stats.ClusteredInterval(estimate, float(low), float(high), label, math.nan, math.nan,
                                   clusters)


def log_ratio_t(y_a: np.ndarray, y_b: np.ndarray, confidence: float = 0.95
                ) -> tuple[float, float]:
    """Cluster-robust interval of R = Σy_B/Σy_A on the log scale: log R̂ ± t_{K−1}·SE,
    SE² = K/(K−1)·Σₖ(y_Bₖ/Σy_B − y_Aₖ/Σy_A)² (the linearised variance of log R̂, topic
    clusters; the methods note's §3 form). NaN when either total is 0 or K < 2."""
    y_a, y_b = np.asarray(y_a, dtype=float), np.asarray(y_b, dtype=float)
    k, sum_a, sum_b = len(y_a), float(y_a.sum()), float(y_b.sum())
    if k < 2 or sum_a <= 0 or sum_b <= 0:
        return math.nan, math.nan
    var = k / (k - 1) * float(((y_b / sum_b - y_a / sum_a) ** 2).sum())
    half = float(sps.t.ppf(0.5 + confidence / 2.0, k - 1)) * math.sqrt(var)
    ratio = sum_b / sum_a
    return ratio * math.exp(-half), ratio * math.exp(half)


def _bootstrap(y_a: np.ndarray, y_b: np.ndarray, confidence: float, n_resamples: int,
               seed: int) -> tuple[float, float, str]:
    """BCa limits (percentile when BCa gives none) of the ratio; same seed for both."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")  # scipy warns when BCa is degenerate; handled below
            res = sps.bootstrap((y_a, y_b), _ratio_statistic, paired=True, vectorized=True,
                                n_resamples=n_resamples, method=method,
                                confidence_level=confidence, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (math.isnan(low) or math.isnan(high)):
            return max(low, 0.0), high, method
    return math.nan, math.nan, "none"
