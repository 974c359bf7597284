"""Pure statistical functions: intervals, tests and corrections for refusal audits.

Every function takes plain numbers (or arrays of per-topic counts) and returns a small frozen
dataclass. The methods follow the project's methods note (``docs/statistics.md``):

- one proportion: Wilson (descriptive), Clopper–Pearson (exact; one-sided bounds for claims);
- clustered proportion: Korn–Graubard effective-n Clopper–Pearson with topic clusters (§2);
- mirrored pairs: Bonett–Price CI for δ = (b−c)/N, exact and mid-p McNemar, exact CI of the
  direction share b/(b+c), cluster-robust δ CI with t_{K−1} and the Durkalski test (§3);
  with several samples per prompt, the exact sign test on pairs (``pair_sign_test``), which
  equals exact McNemar with one sample;
- published figures: exact one-sided binomial tests and TOST (§4);
- two independent samples: Newcombe hybrid score CI and the score test (§5);
- Benjamini–Hochberg q-values and the FCR-adjusted level (§6);
- Rogan–Gladen prevalence with the Lang–Reiczigel CI (§7).

Empty inputs (n = 0) give NaN estimates, never warnings. Counts may be non-integer where an
effective sample size is used; the exact binomial tails then use the regularised incomplete
beta function, which equals the binomial CDF at integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as sps

__all__ = [
    "ClusteredInterval",
    "Interval",
    "TestResult",
    "TostResult",
    "bh_qvalues",
    "binom_test_one_sided",
    "binom_tost",
    "bonett_price_bounds",
    "bonett_price_ci",
    "clopper_pearson_ci",
    "clustered_bp_ci",
    "clustered_delta_ci",
    "cp_lower_bound",
    "cp_upper_bound",
    "design_effect",
    "direction_share_ci",
    "durkalski_test",
    "effective_n",
    "fcr_confidence",
    "kg_ci",
    "mcnemar_exact",
    "mcnemar_exact_p",
    "mcnemar_midp",
    "newcombe_diff_ci",
    "pair_sign_test",
    "rogan_gladen_ci",
    "score_test_2indep",
    "wilson_bounds",
    "wilson_ci",
]

NAN = float("nan")
ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class Interval:
    """A point estimate with two-sided (or one-sided) confidence limits."""

    estimate: float
    low: float
    high: float
    method: str


@dataclass(frozen=True)
class ClusteredInterval:
    """An interval that accounts for clustering (topics), with its design effect."""

    estimate: float
    low: float
    high: float
    method: str
    design_effect: float
    n_eff: float
    clusters: int


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value."""

    statistic: float
    p_value: float
    method: str


@dataclass(frozen=True)
class TostResult:
    """Two one-sided tests: the overall p-value and the two one-sided p-values."""

    p_value: float
    p_low: float
    p_upp: float
    method: str


def _z(confidence: float) -> float:
    """Two-sided critical value z = Φ⁻¹(1 − α/2) for a confidence level in (0, 1)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(sps.norm.ppf(0.5 + confidence / 2.0))


def _is_int(*values: float) -> bool:
    """True when every value is a whole number."""
    return all(float(v).is_integer() for v in values)


def _nan_interval(method: str) -> Interval:
    """The interval reported when there is no data."""
    return Interval(NAN, NAN, NAN, method)


# --- one proportion -------------------------------------------------------------------------


def wilson_bounds(
    k: ArrayLike | float, n: ArrayLike | float, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Wilson score limits; NaN where n == 0."""
    z = _z(confidence)
    k_arr, n_arr = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    safe_n = np.where(n_arr > 0, n_arr, 1.0)
    p = k_arr / safe_n
    denom = 1.0 + z * z / safe_n
    centre = (p + z * z / (2.0 * safe_n)) / denom
    half = z * np.sqrt(np.maximum(p * (1.0 - p), 0.0) / safe_n + z * z / (4.0 * safe_n**2)) / denom
    low = np.where(k_arr <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(k_arr >= n_arr, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(n_arr > 0, low, np.nan), np.where(n_arr > 0, high, np.nan)


def wilson_ci(k: float, n: float, confidence: float = 0.95) -> Interval:
    """Wilson score CI for k events out of n (the default descriptive interval, §1)."""
    if n <= 0:
        return _nan_interval("wilson")
    low, high = wilson_bounds(k, n, confidence)
    return Interval(k / n, float(low), float(high), "wilson")


def _beta_limits(x: float, n: float, alpha_low: float, alpha_high: float) -> tuple[float, float]:
    """Clopper–Pearson limits via the beta quantiles; works for non-integer counts."""
    low = 0.0 if x <= 0 else float(sps.beta.ppf(alpha_low, x, n - x + 1.0))
    high = 1.0 if x >= n else float(sps.beta.ppf(1.0 - alpha_high, x + 1.0, n - x))
    return low, high


def clopper_pearson_ci(k: float, n: float, confidence: float = 0.95) -> Interval:
    """Exact two-sided Clopper–Pearson CI; scipy ``binomtest`` for integer counts."""
    if n <= 0:
        return _nan_interval("clopper-pearson")
    _z(confidence)
    if _is_int(k, n):
        ci = sps.binomtest(int(k), int(n)).proportion_ci(confidence, method="exact")
        return Interval(k / n, float(ci.low), float(ci.high), "clopper-pearson")
    alpha = 1.0 - confidence
    low, high = _beta_limits(k, n, alpha / 2.0, alpha / 2.0)
    return Interval(k / n, low, high, "clopper-pearson")


def cp_upper_bound(k: float, n: float, confidence: float = 0.95) -> float:
    """One-sided exact upper bound U with P(rate ≤ U) at ``confidence`` (§1; k=0 → 1−α^{1/n})."""
    if n <= 0:
        return NAN
    _z(confidence)
    if _is_int(k, n):
        test = sps.binomtest(int(k), int(n), alternative="less")
        return float(test.proportion_ci(confidence, method="exact").high)
    return _beta_limits(k, n, 0.0, 1.0 - confidence)[1]


def cp_lower_bound(k: float, n: float, confidence: float = 0.95) -> float:
    """One-sided exact lower bound L with P(rate ≥ L) at ``confidence``."""
    if n <= 0:
        return NAN
    _z(confidence)
    if _is_int(k, n):
        test = sps.binomtest(int(k), int(n), alternative="greater")
        return float(test.proportion_ci(confidence, method="exact").low)
    return _beta_limits(k, n, 1.0 - confidence, 0.0)[0]


# --- clustered proportion (Korn–Graubard) ------------------------------------------------------


def design_effect(y: ArrayLike, n: ArrayLike) -> float:
    """DEFF from cluster totals: max(1, v̂/(p̂q̂/N)), v̂ = K/(K−1)·Σ(yₖ−p̂nₖ)²/N² (§2).

    NaN when it cannot be estimated (fewer than two clusters, no data, p̂ = 0 or 1).
    """
    y_arr, n_arr = np.asarray(y, dtype=float), np.asarray(n, dtype=float)
    keep = n_arr > 0
    y_arr, n_arr = y_arr[keep], n_arr[keep]
    total, clusters = float(n_arr.sum()), int(keep.sum())
    if clusters < 2 or total <= 0:
        return NAN
    p = float(y_arr.sum()) / total
    if p <= 0.0 or p >= 1.0:
        return NAN
    v = clusters / (clusters - 1) * float(((y_arr - p * n_arr) ** 2).sum()) / total**2
    return max(1.0, v / (p * (1.0 - p) / total))


def effective_n(n: float, deff: float, clusters: int, z: float) -> float:
    """Korn–Graubard n* = (N/DEFF)·(z/t_{K−1})²; N itself when K < 2 (no t correction)."""
    if clusters < 2:
        return float(n)
    deff = 1.0 if math.isnan(deff) else deff
    t = float(sps.t.ppf(sps.norm.cdf(z), clusters - 1))
    return float(n) / deff * (z / t) ** 2


def kg_ci(
    y: ArrayLike, n: ArrayLike, confidence: float = 0.95, *, cluster: str = "topic"
) -> ClusteredInterval:
    """Korn–Graubard CI: Clopper–Pearson on the effective count p̂n* of size n* (§2).

    ``y`` and ``n`` are per-cluster event counts and sizes; ``cluster`` names the cluster in
    the method label (``kg-cp(topic)``, or ``kg-cp(pair)`` for the samples of a pair). When
    DEFF cannot be estimated (p̂ = 0 or 1) DEFF = 1 is used; with fewer than two clusters,
    plain CP.
    """
    z = _z(confidence)
    n_arr = np.asarray(n, dtype=float)
    total, events = float(n_arr.sum()), float(np.asarray(y, dtype=float).sum())
    clusters = int((n_arr > 0).sum())
    if total <= 0:
        return ClusteredInterval(NAN, NAN, NAN, f"kg-cp({cluster})", NAN, 0.0, clusters)
    p = events / total
    deff = design_effect(y, n)
    method = _kg_method(clusters, deff, cluster)
    n_star = effective_n(total, deff, clusters, z)
    alpha = 1.0 - confidence
    low, high = _beta_limits(p * n_star, n_star, alpha / 2.0, alpha / 2.0)
    shown_deff = 1.0 if math.isnan(deff) else deff
    return ClusteredInterval(p, low, high, method, shown_deff, n_star, clusters)


def _kg_method(clusters: int, deff: float, cluster: str = "topic") -> str:
    """Method label for ``kg_ci``, naming any fallback."""
    if clusters < 2:
        return f"clopper-pearson (fewer than 2 {cluster}s: no design effect)"
    if math.isnan(deff):
        return f"kg-cp({cluster}; deff=1 assumed: estimate is 0 or 1)"
    return f"kg-cp({cluster})"


# --- paired asymmetry --------------------------------------------------------------------------


def bonett_price_bounds(
    b: ArrayLike | float, c: ArrayLike | float, n: ArrayLike | float, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Bonett–Price limits for δ = (b−c)/N; NaN where N == 0."""
    z = _z(confidence)
    b_arr, c_arr = np.asarray(b, dtype=float), np.asarray(c, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    p1, p2 = (b_arr + 1.0) / (n_arr + 2.0), (c_arr + 1.0) / (n_arr + 2.0)
    half = z * np.sqrt(np.maximum(p1 + p2 - (p1 - p2) ** 2, 0.0) / (n_arr + 2.0))
    low = np.where(n_arr > 0, np.clip(p1 - p2 - half, -1.0, 1.0), np.nan)
    high = np.where(n_arr > 0, np.clip(p1 - p2 + half, -1.0, 1.0), np.nan)
    return low, high


def bonett_price_ci(b: float, c: float, n: float, confidence: float = 0.95) -> Interval:
    """Bonett–Price CI for the net direction δ = (b−c)/N of N mirrored pairs (§3)."""
    if n <= 0:
        return _nan_interval("bonett-price")
    low, high = bonett_price_bounds(b, c, n, confidence)
    return Interval((b - c) / n, float(low), float(high), "bonett-price")


def direction_share_ci(b: float, c: float, confidence: float = 0.95) -> Interval:
    """Exact (Clopper–Pearson) CI for the direction share b/(b+c) (§3)."""
    ci = clopper_pearson_ci(b, b + c, confidence)
    return Interval(ci.estimate, ci.low, ci.high, "clopper-pearson")


def mcnemar_exact_p(b: ArrayLike | float, c: ArrayLike | float) -> np.ndarray:
    """Vectorised exact McNemar p-value, min(1, 2·F(min(b, c); b+c, ½)); 1 where b+c = 0."""
    b_arr, c_arr = np.asarray(b, dtype=float), np.asarray(c, dtype=float)
    m = b_arr + c_arr
    p = 2.0 * sps.binom.cdf(np.minimum(b_arr, c_arr), m, 0.5)
    return np.where(m > 0, np.minimum(p, 1.0), 1.0)


def mcnemar_exact(b: int, c: int) -> TestResult:
    """Exact McNemar test, equal to ``binomtest(b, b+c, 0.5).pvalue``; p = 1 with no discordance."""
    if b + c == 0:
        return TestResult(0.0, 1.0, "mcnemar-exact")
    p = sps.binomtest(int(b), int(b + c), 0.5).pvalue
    return TestResult(float(min(b, c)), float(p), "mcnemar-exact")


def mcnemar_midp(b: int, c: int) -> TestResult:
    """Mid-p McNemar test, 2[F(min) − ½f(min)] with Binomial(b+c, ½) (§3)."""
    m, x = b + c, min(b, c)
    p = 2.0 * (sps.binom.cdf(x, m, 0.5) - 0.5 * sps.binom.pmf(x, m, 0.5))
    return TestResult(float(x), float(min(1.0, p)), "mcnemar-midp")


def clustered_delta_ci(
    b: ArrayLike, c: ArrayLike, n: ArrayLike, confidence: float = 0.95
) -> ClusteredInterval:
    """Cluster-robust CI for δ = (b−c)/N with topic clusters and t_{K−1} (§3).

    ``b``, ``c``, ``n`` are per-topic counts (only A refused, only B refused, valid pairs).
    Falls back to Bonett–Price with fewer than two topics or no between-topic variation.
    """
    z = _z(confidence)
    b_arr, c_arr = np.asarray(b, dtype=float), np.asarray(c, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    total, clusters = float(n_arr.sum()), int((n_arr > 0).sum())
    if total <= 0:
        return ClusteredInterval(NAN, NAN, NAN, "cluster-t(topic)", NAN, 0.0, clusters)
    d = b_arr - c_arr
    delta = float(d.sum()) / total
    ss = float(((d - delta * n_arr) ** 2).sum()) * clusters / max(clusters - 1, 1)
    if clusters < 2 or ss <= 0.0:
        return _delta_fallback(b_arr, c_arr, total, clusters, confidence, "topic")
    se = math.sqrt(ss) / total
    t = float(sps.t.ppf(sps.norm.cdf(z), clusters - 1))
    low, high = max(-1.0, delta - t * se), min(1.0, delta + t * se)
    naive = (float((b_arr + c_arr).sum()) / total - delta**2) / total
    deff = se**2 / naive if naive > 0 else NAN
    n_eff = total / deff if deff > 0 else NAN
    return ClusteredInterval(delta, low, high, "cluster-t(topic)", deff, n_eff, clusters)


def _delta_fallback(
    b: np.ndarray, c: np.ndarray, total: float, clusters: int, confidence: float, cluster: str
) -> ClusteredInterval:
    """Bonett–Price in place of the clustered δ CI, with the reason in the method."""
    why = f"fewer than 2 {cluster}s" if clusters < 2 else f"no between-{cluster} variation"
    ci = bonett_price_ci(float(b.sum()), float(c.sum()), total, confidence)
    method = f"bonett-price ({why}: no design effect)"
    return ClusteredInterval(ci.estimate, ci.low, ci.high, method, 1.0, total, clusters)


def clustered_bp_ci(
    b: ArrayLike, c: ArrayLike, n: ArrayLike, confidence: float = 0.95, *, cluster: str = "topic"
) -> ClusteredInterval:
    """Bonett–Price on the topic-clustered effective n: the δ analogue of Korn–Graubard.

    Centre (b−c)/(N+2) and variance of Bonett–Price, the variance multiplied by the design
    effect DEFF = max(1, V_cluster/V_naive) (V_cluster the §3 cluster-robust variance,
    V_naive = ((b+c)/N − δ̂²)/N) and the critical value t_{K−1}. Unlike the plain cluster-t
    interval it keeps its coverage when discordant pairs are rare (``bench/coverage.py``).
    ``cluster`` names the cluster in the method label: ``topic`` (per-topic counts) or
    ``pair`` (per-pair counts over several samples).
    """
    z = _z(confidence)
    b_arr, c_arr = np.asarray(b, dtype=float), np.asarray(c, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    total, clusters = float(n_arr.sum()), int((n_arr > 0).sum())
    if total <= 0:
        return ClusteredInterval(NAN, NAN, NAN, f"bonett-price({cluster} deff)", NAN, 0.0,
                                 clusters)
    if clusters < 2:
        return _delta_fallback(b_arr, c_arr, total, clusters, confidence, cluster)
    b_sum, c_sum = float(b_arr.sum()), float(c_arr.sum())
    deff, method = _delta_deff(b_arr - c_arr, n_arr, b_sum + c_sum, total)
    method = method.replace("topic deff", f"{cluster} deff")
    p1, p2 = (b_sum + 1.0) / (total + 2.0), (c_sum + 1.0) / (total + 2.0)
    var = deff * (p1 + p2 - (p1 - p2) ** 2) / (total + 2.0)
    half = float(sps.t.ppf(sps.norm.cdf(z), clusters - 1)) * math.sqrt(max(var, 0.0))
    low, high = max(-1.0, p1 - p2 - half), min(1.0, p1 - p2 + half)
    return ClusteredInterval((b_sum - c_sum) / total, low, high, method, deff, total / deff,
                             clusters)


def _delta_deff(d: np.ndarray, n: np.ndarray, discordant: float, total: float) -> tuple[float, str]:
    """Design effect of δ̂ from topic differences dₖ, floored at 1, and the method label."""
    delta, clusters = float(d.sum()) / total, int((n > 0).sum())
    naive = (discordant / total - delta**2) / total
    if naive <= 0.0:
        return 1.0, "bonett-price(topic deff; deff=1 assumed: no discordant pairs)"
    v = clusters / (clusters - 1) * float(((d - delta * n) ** 2).sum()) / total**2
    return max(1.0, v / naive), "bonett-price(topic deff)"


def durkalski_test(b: ArrayLike, c: ArrayLike) -> TestResult:
    """Clustered McNemar test X² = (Σdₖ)²/Σdₖ² against χ²₁, dₖ = bₖ − cₖ (Durkalski 2003)."""
    d = np.asarray(b, dtype=float) - np.asarray(c, dtype=float)
    ss = float((d**2).sum())
    if ss <= 0.0:
        return TestResult(0.0, 1.0, "durkalski")
    x2 = float(d.sum()) ** 2 / ss
    return TestResult(x2, float(sps.chi2.sf(x2, 1)), "durkalski")


def pair_sign_test(b: ArrayLike, c: ArrayLike, *, midp: bool = False) -> TestResult:
    """Exact sign test of direction with several samples per mirrored pair (exact or mid-p).

    ``b`` and ``c`` are per-pair counts over the pair's samples: samples where only side A,
    or only side B, refused. A pair *leans A* when bᵢ > cᵢ and *leans B* when cᵢ > bᵢ; ties
    drop out. Under the null of no direction the two sides of a pair are exchangeable, so
    each leaning pair leans A with probability ½, independently of the other pairs, however
    strongly its samples are correlated; the number of A-leaning pairs is then
    Binomial(m, ½) given the m leaning pairs, and the test is the exact binomial (sign) test
    on pairs (Dixon & Mood 1946), i.e. exact McNemar on the pair-level counts. Samples of a
    pair count once, so their correlation cannot inflate the size. With one sample per pair
    (bᵢ, cᵢ ∈ {0, 1}) it *is* the exact McNemar test on (Σb, Σc). ``statistic`` = min of the
    two leaning counts.
    """
    b_arr, c_arr = np.asarray(b, dtype=float), np.asarray(c, dtype=float)
    lean_a, lean_b = int((b_arr > c_arr).sum()), int((c_arr > b_arr).sum())
    if midp:
        res = mcnemar_midp(lean_a, lean_b)
        return TestResult(res.statistic, res.p_value, "sign-test-midp(pairs)")
    res = mcnemar_exact(lean_a, lean_b)
    return TestResult(res.statistic, res.p_value, "sign-test(pairs)")


# --- tests against a published figure ----------------------------------------------------------


def _lower_tail(x: float, n: float, p: float) -> float:
    """P(X ≤ x) for X ~ Binomial(n, p); continuous in x and n via the incomplete beta."""
    if x >= n:
        return 1.0
    if x < 0:
        return 0.0
    if _is_int(x, n):
        return float(sps.binom.cdf(x, n, p))
    return float(special.betainc(n - x, x + 1.0, 1.0 - p))


def _upper_tail(x: float, n: float, p: float) -> float:
    """P(X ≥ x) for X ~ Binomial(n, p); continuous in x and n via the incomplete beta."""
    if x <= 0:
        return 1.0
    if x > n:
        return 0.0
    if _is_int(x, n):
        return float(sps.binom.sf(x - 1, n, p))
    return float(special.betainc(x, n - x + 1.0, p))


def binom_test_one_sided(k: float, n: float, p0: float, alternative: str) -> TestResult:
    """Exact one-sided binomial test of H1: rate < p0 (``'less'``) or > p0 (``'greater'``).

    Equals ``scipy.stats.binomtest(k, n, p0, alternative).pvalue`` for integer counts and
    accepts an effective (non-integer) count and size under clustering (§4).
    """
    if n <= 0:
        return TestResult(NAN, NAN, f"exact-binomial({alternative})")
    if alternative == "less":
        p = _lower_tail(k, n, p0)
    elif alternative == "greater":
        p = _upper_tail(k, n, p0)
    else:
        raise ValueError(f"alternative must be 'less' or 'greater', got {alternative!r}")
    return TestResult(k / n, p, f"exact-binomial({alternative})")


def binom_tost(k: float, n: float, low: float, upp: float) -> TostResult:
    """TOST equivalence test of low < rate < upp; statsmodels ``binom_tost`` for integers (§4)."""
    if n <= 0:
        return TostResult(NAN, NAN, NAN, "tost")
    if _is_int(k, n):
        # here, not at the top: a default run never loads statsmodels
        from statsmodels.stats.proportion import binom_tost as sm_binom_tost

        p, p_low, p_upp = sm_binom_tost(int(k), int(n), low, upp)
        return TostResult(float(p), float(p_low), float(p_upp), "tost")
    p_low, p_upp = _upper_tail(k, n, low), _lower_tail(k, n, upp)
    return TostResult(max(p_low, p_upp), p_low, p_upp, "tost")


# --- two independent samples -------------------------------------------------------------------


def newcombe_diff_ci(
    k1: float, n1: float, k2: float, n2: float, confidence: float = 0.95
) -> Interval:
    """Newcombe hybrid score CI for p₁ − p₂ of independent samples (§5, method='newcomb').

    Counts may be effective (non-integer) counts.
    """
    if n1 <= 0 or n2 <= 0:
        return _nan_interval("newcombe")
    # here, not at the top: a default run never loads statsmodels
    from statsmodels.stats.proportion import confint_proportions_2indep

    _z(confidence)
    low, high = confint_proportions_2indep(
        k1, n1, k2, n2, method="newcomb", compare="diff", alpha=1.0 - confidence
    )
    low, high = max(-1.0, float(low)), min(1.0, float(high))
    return Interval(k1 / n1 - k2 / n2, low, high, "newcombe")


def score_test_2indep(k1: float, n1: float, k2: float, n2: float) -> TestResult:
    """Score test of p₁ = p₂ for independent samples (§5); p = 1 when the pooled rate is 0 or 1."""
    if n1 <= 0 or n2 <= 0:
        return TestResult(NAN, NAN, "score")
    if k1 + k2 == 0 or k1 + k2 == n1 + n2:
        return TestResult(0.0, 1.0, "score")
    # here, not at the top: a default run never loads statsmodels
    from statsmodels.stats.proportion import test_proportions_2indep

    with np.errstate(divide="ignore", invalid="ignore"):  # its odds ratio divides by 1 − p
        res = test_proportions_2indep(k1, n1, k2, n2, method="score")
    return TestResult(float(res.statistic), float(res.pvalue), "score")


# --- multiple comparisons ----------------------------------------------------------------------


def bh_qvalues(p_values: ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg q-values (§6); NaN p-values are left out and stay NaN."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        q[finite] = sps.false_discovery_control(p[finite], method="bh")
    return q


def fcr_confidence(n_selected: int, n_tests: int, q: float = 0.05) -> float:
    """FCR-adjusted confidence level 1 − Rq/m for the R of m selected (flagged) tests (§6).

    With nothing selected the level is the unadjusted 1 − q.
    """
    if n_selected <= 0 or n_tests <= 0:
        return 1.0 - q
    return 1.0 - min(n_selected, n_tests) * q / n_tests


# --- classifier-error correction ---------------------------------------------------------------


def rogan_gladen_ci(
    k: float,
    n: float,
    sensitivity: float,
    specificity: float,
    n_pos: int,
    n_neg: int,
    confidence: float = 0.95,
) -> Interval:
    """Rogan–Gladen prevalence with the Lang–Reiczigel (2014) CI (§7).

    ``sensitivity`` and ``specificity`` were measured on ``n_pos`` true refusals and ``n_neg``
    true non-refusals of a gold set. The estimate is clipped to [0, 1].
    """
    method = "rogan-gladen / lang-reiczigel"
    if n <= 0 or sensitivity + specificity <= 1.0:
        return _nan_interval(method)
    est = min(1.0, max(0.0, (k / n + specificity - 1.0) / (sensitivity + specificity - 1.0)))
    low, high = _lang_reiczigel(k, n, sensitivity * n_pos, n_pos, specificity * n_neg, n_neg,
                                confidence)
    return Interval(est, low, high, method)


def _lang_reiczigel(
    k: float, n: float, k_se: float, n_se: float, k_sp: float, n_sp: float, confidence: float
) -> tuple[float, float]:
    """Lang–Reiczigel limits: add z²/2 to each audit outcome, 1 to each gold outcome, shift."""
    z = _z(confidence)
    p = (k + z * z / 2.0) / (n + z * z)
    se, sp = (k_se + 1.0) / (n_se + 2.0), (k_sp + 1.0) / (n_sp + 2.0)
    youden = se + sp - 1.0
    pi = (p + sp - 1.0) / youden
    var_se, var_sp = se * (1.0 - se) / (n_se + 2.0), sp * (1.0 - sp) / (n_sp + 2.0)
    var = p * (1.0 - p) / (n + z * z) + pi**2 * var_se + (1.0 - pi) ** 2 * var_sp
    half = z * math.sqrt(var) / abs(youden)
    centre = pi + 2.0 * z * z * (pi * var_se - (1.0 - pi) * var_sp)
    return min(1.0, max(0.0, centre - half)), min(1.0, max(0.0, centre + half))
