"""Shares with a direction: the Korn–Graubard interval of a share and its exact test of ½.

Used by the stance figures (``lean_direction``, ``asymmetric_hedging_direction`` and their
per-topic rows).
"""

from __future__ import annotations

import numpy as np

from audit.stats import _intervals as stats

__all__ = ["binomial_half_test", "share_interval"]


def share_interval(y: np.ndarray, n: np.ndarray, confidence: float
                   ) -> tuple[stats.ClusteredInterval, stats.TestResult]:
    """KG-CP interval of a share and its exact two-sided binomial test of 0.5.

    ``y``/``n`` are per-cluster counts. The test runs on the Korn–Graubard effective count and
    size (x* = p̂·n*, n*); Binomial(n*, ½) is symmetric, so p = min(1, 2·min(P(X ≤ x*),
    P(X ≥ x*))), which is ``scipy.stats.binomtest(k, n, 0.5).pvalue`` for whole counts.
    """
    ci = stats.kg_ci(y, n, confidence)
    return ci, binomial_half_test(ci.estimate * ci.n_eff, ci.n_eff)


def binomial_half_test(x: float, n: float) -> stats.TestResult:
    """Exact two-sided binomial test of a share of ½ (effective counts accepted)."""
    if not n > 0:
        return stats.TestResult(float("nan"), float("nan"), "exact-binomial(0.5)")
    less = stats.binom_test_one_sided(x, n, 0.5, "less").p_value
    greater = stats.binom_test_one_sided(x, n, 0.5, "greater").p_value
    return stats.TestResult(x / n, min(1.0, 2.0 * min(less, greater)), "exact-binomial(0.5)")
