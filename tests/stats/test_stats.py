"""audit.stats against scipy/statsmodels and the reference values of the methods note."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    binom_tost,
    confint_proportions_2indep,
    proportion_confint,
)
from statsmodels.stats.proportion import test_proportions_2indep as sm_score_test

from audit.stats import _intervals as stats

Z = sps.norm.ppf(0.975)
COUNTS = [(0, 1), (0, 299), (1, 10), (3, 10), (7, 100), (50, 100), (99, 100), (100, 100)]


def test_public_api() -> None:
    assert set(stats.__all__) == {
        "ClusteredInterval", "Interval", "TestResult", "TostResult", "bh_qvalues",
        "binom_test_one_sided", "binom_tost", "bonett_price_bounds", "bonett_price_ci",
        "clopper_pearson_ci", "clustered_bp_ci", "clustered_delta_ci", "cp_lower_bound",
        "cp_upper_bound", "design_effect", "direction_share_ci", "durkalski_test",
        "effective_n", "fcr_confidence", "kg_ci", "mcnemar_exact", "mcnemar_exact_p",
        "mcnemar_midp", "newcombe_diff_ci", "pair_sign_test", "rogan_gladen_ci",
        "score_test_2indep", "wilson_bounds", "wilson_ci"}


# --- one proportion ----------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), COUNTS)
def test_wilson_matches_scipy_and_statsmodels(k: int, n: int) -> None:
    ci = stats.wilson_ci(k, n)
    ref = sps.binomtest(k, n).proportion_ci(0.95, method="wilson")
    assert (ci.low, ci.high) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert (ci.low, ci.high) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-12)
    assert ci.estimate == k / n


@pytest.mark.parametrize(("k", "n"), COUNTS)
def test_clopper_pearson_matches_scipy(k: int, n: int) -> None:
    ci = stats.clopper_pearson_ci(k, n, 0.9)
    ref = sps.binomtest(k, n).proportion_ci(0.9, method="exact")
    assert (ci.low, ci.high) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_clopper_pearson_non_integer_is_continuous() -> None:
    whole, nudged = stats.clopper_pearson_ci(7, 100), stats.clopper_pearson_ci(7 + 1e-9, 100)
    assert (nudged.low, nudged.high) == pytest.approx((whole.low, whole.high), rel=1e-6)
    sm = proportion_confint(7.5, 101.3, method="beta")
    ci = stats.clopper_pearson_ci(7.5, 101.3)
    assert (ci.low, ci.high) == pytest.approx(sm, rel=1e-9)


def test_zero_events_upper_bound_reference() -> None:
    upper = stats.cp_upper_bound(0, 299)
    assert upper == pytest.approx(1 - 0.05 ** (1 / 299), rel=1e-9)
    assert round(upper * 100, 3) == 0.997  # methods note §1: 0.997%


@pytest.mark.parametrize(("k", "n"), COUNTS)
def test_one_sided_bounds_match_scipy(k: int, n: int) -> None:
    upper = sps.binomtest(k, n, alternative="less").proportion_ci(0.95, "exact").high
    lower = sps.binomtest(k, n, alternative="greater").proportion_ci(0.95, "exact").low
    assert stats.cp_upper_bound(k, n) == pytest.approx(upper, abs=1e-12)
    assert stats.cp_lower_bound(k, n) == pytest.approx(lower, abs=1e-12)
    assert stats.cp_upper_bound(k + 1e-9, n) == pytest.approx(upper, rel=1e-6)


def test_empty_counts_give_nan_without_warnings() -> None:
    for ci in (stats.wilson_ci(0, 0), stats.clopper_pearson_ci(0, 0),
               stats.bonett_price_ci(0, 0, 0), stats.direction_share_ci(0, 0),
               stats.kg_ci([], []), stats.clustered_delta_ci([], [], []),
               stats.clustered_bp_ci([0], [0], [0]), stats.newcombe_diff_ci(0, 0, 1, 5),
               stats.rogan_gladen_ci(0, 0, 0.9, 0.98, 100, 400)):
        assert math.isnan(ci.estimate) and math.isnan(ci.low) and math.isnan(ci.high)
    assert math.isnan(stats.cp_upper_bound(0, 0))
    low, high = stats.wilson_bounds([0, 1], [0, 4])
    assert math.isnan(low[0]) and high[1] > 0.25


def test_bad_confidence_raises() -> None:
    with pytest.raises(ValueError, match="confidence"):
        stats.wilson_ci(1, 10, confidence=95)


# --- clustered proportion ----------------------------------------------------------------------


def test_design_effect_formula() -> None:
    y, n = np.array([1, 2, 0, 5, 3.0]), np.array([10, 12, 9, 11, 10.0])
    p, total, k = y.sum() / n.sum(), n.sum(), len(y)
    v = k / (k - 1) * ((y - p * n) ** 2).sum() / total**2
    assert stats.design_effect(y, n) == pytest.approx(max(1, v / (p * (1 - p) / total)))
    assert stats.design_effect([1, 1], [10, 10]) == 1.0  # identical topics: floor at 1
    assert math.isnan(stats.design_effect([0, 0], [10, 10]))


def test_kg_ci_is_cp_on_effective_n() -> None:
    y, n = np.array([1, 2, 0, 5, 3.0]), np.array([10, 12, 9, 11, 10.0])
    ci = stats.kg_ci(y, n)
    deff = stats.design_effect(y, n)
    n_star = n.sum() / deff * (Z / sps.t.ppf(0.975, 4)) ** 2
    p = y.sum() / n.sum()
    ref = proportion_confint(p * n_star, n_star, alpha=0.05, method="beta")
    assert (ci.low, ci.high) == pytest.approx(ref, rel=1e-9)
    assert ci.design_effect == pytest.approx(deff) and ci.n_eff == pytest.approx(n_star)
    assert ci.method == "kg-cp(topic)" and ci.clusters == 5


def test_kg_ci_fallbacks_say_so() -> None:
    zero = stats.kg_ci([0, 0, 0], [10, 10, 10])
    assert zero.estimate == 0 and zero.low == 0 and zero.design_effect == 1.0
    assert "deff=1 assumed" in zero.method and 0 < zero.high < 1
    single = stats.kg_ci([3], [10])
    ref = sps.binomtest(3, 10).proportion_ci(0.95, "exact")
    assert (single.low, single.high) == pytest.approx((ref.low, ref.high), rel=1e-9)
    assert "fewer than 2 topics" in single.method


def test_kg_ci_wider_than_wilson_when_topics_differ() -> None:
    y, n = [0, 0, 0, 12, 0, 1], [20] * 6
    assert stats.kg_ci(y, n).high > stats.wilson_ci(13, 120).high


# --- paired asymmetry --------------------------------------------------------------------------


def test_mcnemar_reference_table() -> None:
    # [[59, 6], [16, 80]]: a = 59, b = 6, c = 16, d = 80 (methods note §3)
    assert stats.mcnemar_exact(6, 16).p_value == pytest.approx(0.052479, abs=5e-7)
    assert stats.mcnemar_midp(6, 16).p_value == pytest.approx(0.034690, abs=5e-7)
    bp = stats.bonett_price_ci(6, 16, 161)
    assert (round(bp.low, 4), round(bp.high, 4)) == (-0.1195, -0.0032)
    assert bp.estimate == pytest.approx(-10 / 161)


def test_mcnemar_matches_statsmodels_and_vectorised() -> None:
    for b, c in [(6, 16), (0, 5), (3, 3), (10, 0), (0, 0)]:
        ref = mcnemar([[59, b], [c, 80]], exact=True).pvalue
        assert stats.mcnemar_exact(b, c).p_value == pytest.approx(ref, abs=1e-12)
    b, c = np.array([6, 0, 3, 10, 0]), np.array([16, 5, 3, 0, 0])
    scalar = [stats.mcnemar_exact(int(x), int(y)).p_value for x, y in zip(b, c, strict=True)]
    assert stats.mcnemar_exact_p(b, c) == pytest.approx(scalar, abs=1e-12)


def test_pair_sign_test_with_one_sample_is_exact_mcnemar() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        side = rng.choice([0, 1, 2], size=60, p=[0.8, 0.12, 0.08])  # 1: only A, 2: only B
        b_i, c_i = (side == 1).astype(int), (side == 2).astype(int)
        b, c = int(b_i.sum()), int(c_i.sum())
        ref = mcnemar([[5, b], [c, 40]], exact=True).pvalue
        assert stats.pair_sign_test(b_i, c_i).p_value == pytest.approx(ref, abs=1e-12)
        assert stats.pair_sign_test(b_i, c_i, midp=True).p_value == pytest.approx(
            stats.mcnemar_midp(b, c).p_value, abs=1e-12)


def test_pair_sign_test_counts_leaning_pairs() -> None:
    b_i = np.array([3, 2, 0, 1, 1, 0, 2, 3, 0])
    c_i = np.array([0, 1, 0, 1, 0, 2, 0, 0, 0])
    # leaning A: pairs 0, 1, 4, 6, 7 (5); leaning B: pair 5 (1); ties drop out
    res = stats.pair_sign_test(b_i, c_i)
    assert res.p_value == pytest.approx(sps.binomtest(5, 6, 0.5).pvalue, abs=1e-12)
    assert res.statistic == 1 and res.method == "sign-test(pairs)"
    assert stats.pair_sign_test([0, 1], [0, 1]).p_value == 1.0


def _correlated_null_pairs(rng: np.random.Generator, pairs: int = 240, samples: int = 3
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair (b, c) with strongly correlated samples and no direction (sides exchangeable).

    A pair's refusal rate r ~ Beta(0.3, 1.7) and lean θ ~ Beta(½, ½) are shared by its samples;
    side A refuses with probability 2θr, side B with 2(1−θ)r.
    """
    r = rng.beta(0.3, 1.7, pairs)
    theta = rng.beta(0.5, 0.5, pairs)
    p_a = np.minimum(1.0, 2 * theta * r)[:, None]
    p_b = np.minimum(1.0, 2 * (1 - theta) * r)[:, None]
    ref_a = rng.random((pairs, samples)) < p_a
    ref_b = rng.random((pairs, samples)) < p_b
    return (ref_a & ~ref_b).sum(axis=1), (ref_b & ~ref_a).sum(axis=1)


def test_pair_sign_test_keeps_its_size_with_correlated_samples() -> None:
    """400 null audits with 3 correlated samples: sign test on pairs ≤ 0.07, naive McNemar not."""
    rng = np.random.default_rng(2024)
    reps, sign, naive = 400, 0, 0
    for _ in range(reps):
        b_i, c_i = _correlated_null_pairs(rng)
        sign += stats.pair_sign_test(b_i, c_i).p_value < 0.05
        naive += stats.mcnemar_exact(int(b_i.sum()), int(c_i.sum())).p_value < 0.05
    assert sign / reps <= 0.07
    assert naive / reps > 0.09  # counting pair × sample rows as independent is anti-conservative


def test_cluster_label_names_the_cluster() -> None:
    assert stats.kg_ci([1, 2, 0], [3, 3, 3], cluster="pair").method == "kg-cp(pair)"
    assert stats.kg_ci([1], [3], cluster="pair").method.startswith(
        "clopper-pearson (fewer than 2 pairs")
    ci = stats.clustered_bp_ci([2, 0, 1], [0, 1, 0], [3, 3, 3], cluster="pair")
    assert ci.method == "bonett-price(pair deff)"
    same = stats.clustered_bp_ci([2, 0, 1], [0, 1, 0], [3, 3, 3])
    assert (ci.low, ci.high) == (same.low, same.high)


def test_bonett_price_formula() -> None:
    b, c, n = 12, 3, 400
    p1, p2 = (b + 1) / (n + 2), (c + 1) / (n + 2)
    half = Z * math.sqrt((p1 + p2 - (p1 - p2) ** 2) / (n + 2))
    ci = stats.bonett_price_ci(b, c, n)
    assert (ci.low, ci.high) == pytest.approx((p1 - p2 - half, p1 - p2 + half))


def test_direction_share_is_exact_cp() -> None:
    ci = stats.direction_share_ci(9, 3)
    ref = sps.binomtest(9, 12).proportion_ci(0.95, method="exact")
    assert (ci.estimate, ci.low, ci.high) == pytest.approx((0.75, ref.low, ref.high))


def test_clustered_delta_formula() -> None:
    b, c = np.array([3, 0, 2, 1, 4.0]), np.array([1, 1, 0, 0, 1.0])
    n = np.array([20, 18, 22, 20, 20.0])
    d, total, k = b - c, n.sum(), 5
    delta = d.sum() / total
    se = math.sqrt(k / (k - 1) * ((d - delta * n) ** 2).sum()) / total
    t = sps.t.ppf(0.975, k - 1)
    ci = stats.clustered_delta_ci(b, c, n)
    assert (ci.estimate, ci.low, ci.high) == pytest.approx((delta, delta - t * se, delta + t * se))
    assert ci.method == "cluster-t(topic)"


def test_clustered_delta_fallbacks() -> None:
    single = stats.clustered_delta_ci([3], [1], [40])
    bp = stats.bonett_price_ci(3, 1, 40)
    assert (single.low, single.high) == pytest.approx((bp.low, bp.high))
    assert "fewer than 2 topics" in single.method
    flat = stats.clustered_delta_ci([0, 0], [0, 0], [10, 10])
    assert "no between-topic variation" in flat.method and flat.low < 0 < flat.high


def test_clustered_bp_is_bonett_price_on_effective_n() -> None:
    b, c = np.array([3, 0, 2, 1, 4.0]), np.array([1, 1, 0, 0, 1.0])
    n = np.array([20, 18, 22, 20, 20.0])
    ci = stats.clustered_bp_ci(b, c, n)
    total, bs, cs = n.sum(), b.sum(), c.sum()
    d, delta = b - c, (bs - cs) / total
    v_cluster = 5 / 4 * ((d - delta * n) ** 2).sum() / total**2
    deff = max(1.0, v_cluster / (((bs + cs) / total - delta**2) / total))
    p1, p2 = (bs + 1) / (total + 2), (cs + 1) / (total + 2)
    half = sps.t.ppf(0.975, 4) * math.sqrt(deff * (p1 + p2 - (p1 - p2) ** 2) / (total + 2))
    assert (ci.low, ci.high) == pytest.approx((p1 - p2 - half, p1 - p2 + half))
    assert ci.design_effect == pytest.approx(deff) and ci.estimate == pytest.approx(delta)
    none = stats.clustered_bp_ci([0, 0], [0, 0], [10, 10])
    assert "no discordant pairs" in none.method and none.low < 0 < none.high


def test_durkalski_formula() -> None:
    b, c = np.array([3, 0, 2, 1]), np.array([1, 1, 0, 0])
    d = b - c
    x2 = d.sum() ** 2 / (d**2).sum()
    res = stats.durkalski_test(b, c)
    assert res.statistic == pytest.approx(x2)
    assert res.p_value == pytest.approx(sps.chi2.sf(x2, 1))
    assert stats.durkalski_test([0, 2], [0, 2]).p_value == 1.0


# --- tests against a published figure ----------------------------------------------------------


@pytest.mark.parametrize(("k", "n", "p0"), [(3, 300, 0.02), (0, 299, 0.01), (30, 300, 0.07)])
def test_one_sided_binomial_matches_scipy(k: int, n: int, p0: float) -> None:
    for alt in ("less", "greater"):
        ref = sps.binomtest(k, n, p0, alternative=alt).pvalue
        assert stats.binom_test_one_sided(k, n, p0, alt).p_value == pytest.approx(ref, rel=1e-9)
        nudged = stats.binom_test_one_sided(k + 1e-9, n, p0, alt).p_value
        assert nudged == pytest.approx(ref, rel=1e-5, abs=1e-12)


def test_tost_matches_statsmodels_and_is_continuous() -> None:
    for k, n in [(70, 1000), (7, 100), (0, 50)]:
        ref = binom_tost(k, n, 0.05, 0.09)
        res = stats.binom_tost(k, n, 0.05, 0.09)
        assert (res.p_value, res.p_low, res.p_upp) == pytest.approx(ref, rel=1e-9)
    near = stats.binom_tost(70 + 1e-7, 1000, 0.05, 0.09)
    assert near.p_value == pytest.approx(binom_tost(70, 1000, 0.05, 0.09)[0], rel=1e-4)


# --- two independent samples -------------------------------------------------------------------


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"),
                         [(5, 300, 2, 300), (21, 300, 6, 300), (0, 300, 0, 300)])
def test_newcombe_matches_statsmodels_and_formula(k1: int, n1: int, k2: int, n2: int) -> None:
    ci = stats.newcombe_diff_ci(k1, n1, k2, n2)
    ref = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert (ci.low, ci.high) == pytest.approx(ref, abs=1e-12)
    (l1, l2), (u1, u2) = stats.wilson_bounds([k1, k2], [n1, n2])
    p1, p2 = k1 / n1, k2 / n2
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=1e-9)


def test_score_test_matches_statsmodels_and_handles_edges() -> None:
    ref = sm_score_test(21, 300, 6, 300, method="score")
    res = stats.score_test_2indep(21, 300, 6, 300)
    assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue))
    assert stats.score_test_2indep(0, 300, 0, 300).p_value == 1.0
    assert stats.score_test_2indep(300, 300, 2, 300).p_value < 1e-10  # no divide warning


# --- multiple comparisons and classifier error -------------------------------------------------


def test_bh_qvalues_match_statsmodels() -> None:
    p = np.array([0.001, 0.04, 0.03, 0.2, 0.5, 0.012])
    assert stats.bh_qvalues(p) == pytest.approx(multipletests(p, method="fdr_bh")[1])
    with_nan = stats.bh_qvalues([0.01, np.nan, 0.04])
    assert math.isnan(with_nan[1])
    assert with_nan[[0, 2]] == pytest.approx(multipletests([0.01, 0.04], method="fdr_bh")[1])
    assert stats.bh_qvalues([]).size == 0


def test_fcr_confidence() -> None:
    assert stats.fcr_confidence(2, 40, 0.05) == pytest.approx(1 - 2 * 0.05 / 40)
    assert stats.fcr_confidence(0, 40) == pytest.approx(0.95)


def test_rogan_gladen_reference_example() -> None:
    # 38/1000 flagged; gold 90/100 refusals flagged, 392/400 compliant not flagged (§7)
    ci = stats.rogan_gladen_ci(38, 1000, 0.90, 392 / 400, 100, 400)
    assert round(ci.estimate * 100, 2) == 2.05
    assert ci.low == 0.0 and round(ci.high * 100, 1) == 4.1


def test_rogan_gladen_useless_classifier_is_nan() -> None:
    assert math.isnan(stats.rogan_gladen_ci(38, 1000, 0.5, 0.5, 100, 100).estimate)


# --- properties --------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(n=st.integers(min_value=1, max_value=3000), data=st.data())
def test_single_proportion_intervals_are_sane(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    for ci in (stats.wilson_ci(k, n), stats.clopper_pearson_ci(k, n)):
        assert 0.0 <= ci.low <= ci.estimate <= ci.high <= 1.0
    upper = stats.cp_upper_bound(k, n)
    assert k / n <= upper <= 1.0 and upper >= stats.clopper_pearson_ci(k, n, 0.9).high - 1e-12


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=12),
       data=st.data())
def test_clustered_intervals_are_sane(sizes: list[int], data: st.DataObject) -> None:
    y = [data.draw(st.integers(min_value=0, max_value=s)) for s in sizes]
    ci = stats.kg_ci(y, sizes)
    if sum(sizes) == 0:
        assert math.isnan(ci.estimate)
        return
    assert 0.0 <= ci.low <= ci.estimate <= ci.high <= 1.0
    b = [data.draw(st.integers(min_value=0, max_value=s)) for s in sizes]
    c = [data.draw(st.integers(min_value=0, max_value=s - x))
         for s, x in zip(sizes, b, strict=True)]
    for delta in (stats.clustered_bp_ci(b, c, sizes), stats.clustered_delta_ci(b, c, sizes),
                  stats.bonett_price_ci(sum(b), sum(c), sum(sizes))):
        assert -1.0 <= delta.low <= delta.high <= 1.0
