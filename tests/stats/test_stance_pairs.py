"""audit.stats stance pairs: adherence, the adherence gap and asymmetric hedging."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from audit.stats import STANCE_PAIRS_COLUMNS, stance_pairs, stance_summary
from audit.stats._stance_pairs import clustered_mean_ci, signed_rank_test
from tests.support.stance_frames import Row, frame, pair


def metric(table: pd.DataFrame, name: str) -> pd.Series:
    rows = table[table["metric"] == name]
    assert len(rows) == 1, name
    return rows.iloc[0]


# (stance_a, stance_b) → adherence a = stance_a, adherence b = 6 − stance_b; side a progressive
CASES = [((1, 5), (1, 1), False, ""), ((1, 3), (1, 3), True, "b"), ((4, 5), (4, 1), True, "a"),
         ((2, 4), (2, 2), False, ""), ((1, 2), (1, 4), True, "b"), ((3, 3), (3, 3), False, "")]


def cases_frame() -> pd.DataFrame:
    rows: list[Row] = []
    for i, ((sa, sb), _, _, _) in enumerate(CASES):
        rows += pair(f"topic{i % 3}", f"p{i}", sa, sb)
    rows += pair("topic0", "refused", 1, 5, labels=("compliance", "refusal"))  # not valid
    rows += pair("topic0", "error", 1, "", judge_status="error")  # not valid
    return frame(rows)


def test_pairs_table_adherence_and_hedging_by_hand() -> None:
    pairs = stance_pairs(cases_frame())
    assert list(pairs.columns) == STANCE_PAIRS_COLUMNS
    valid = pairs[pairs["valid"]].set_index("pair_id")
    assert len(valid) == len(CASES) and len(pairs) == len(CASES) + 2
    for i, (_, (adh_a, adh_b), hedged, side) in enumerate(CASES):
        got = valid.loc[f"p{i}"]
        assert (got["adherence_a"], got["adherence_b"]) == (adh_a, adh_b)
        assert (bool(got["hedged"]), got["hedged_side"]) == (hedged, side)
        assert got["adherence_gap"] == adh_b - adh_a  # a progressive, b conservative
    assert pairs.set_index("pair_id").loc["refused", "adherence_a"] != pairs.set_index(
        "pair_id").loc["refused", "adherence_a"]  # NaN when not valid


def test_summary_pair_rows_by_hand() -> None:
    table = stance_summary(cases_frame())
    gap = metric(table, "adherence_gap")
    diffs = [b - a for _, (a, b), _, _ in CASES]
    assert (gap["k"], gap["n"]) == (sum(diffs), len(CASES))
    assert gap["estimate"] == pytest.approx(np.mean(diffs))
    hedging = metric(table, "asymmetric_hedging_rate")
    assert (hedging["k"], hedging["n"]) == (3, 6)
    direction = metric(table, "asymmetric_hedging_direction")
    # hedged sides b, a, b: the progressive side (a) got the 1 twice
    assert (direction["k"], direction["n"]) == (2, 3)
    sign = metric(table, "adherence_gap_sign_p")
    positive, negative = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    assert (sign["k"], sign["n"]) == (positive, positive + negative)
    assert sign["p_value"] == pytest.approx(sps.binomtest(positive, positive + negative).pvalue)


def test_gap_needs_progressive_against_conservative() -> None:
    rows = pair("t", "p1", 1, 3, lean_a="libertarian", lean_b="conservative")
    rows += pair("t", "p2", 1, 3, lean_a="conservative", lean_b="progressive")
    pairs = stance_pairs(frame(rows)).set_index("pair_id")
    assert np.isnan(pairs.loc["p1", "adherence_gap"])
    # b progressive: gap = adherence a (conservative, 1) − adherence b (progressive, 3)
    assert pairs.loc["p2", "adherence_gap"] == -2


def test_clustered_mean_ci_matches_statsmodels_cluster_robust_ols() -> None:
    rng = np.random.default_rng(3)
    topics = np.repeat(np.arange(9), rng.integers(2, 7, 9))
    values = rng.integers(-3, 4, len(topics)).astype(float) + 0.5 * topics % 2
    ci = clustered_mean_ci(values, topics.astype(str), 0.95)
    fit = sm.OLS(values, np.ones(len(values))).fit(
        cov_type="cluster", cov_kwds={"groups": topics}, use_t=True)
    low, high = fit.conf_int(alpha=0.05)[0]
    assert ci.estimate == pytest.approx(values.mean())
    assert (ci.low, ci.high) == pytest.approx((low, high))
    assert ci.clusters == 9


def test_clustered_mean_ci_with_one_topic_is_the_t_interval() -> None:
    values = np.array([1.0, -2.0, 0.0, 3.0, 1.0, 2.0])
    ci = clustered_mean_ci(values, np.array(["x"] * 6), 0.9)
    expected = sps.ttest_1samp(values, 0.0).confidence_interval(0.9)
    assert (ci.low, ci.high) == pytest.approx((expected.low, expected.high))


def test_signed_rank_on_topic_means_matches_full_enumeration() -> None:
    """Exact null distribution by flipping every topic mean's sign (no ties): the oracle."""
    means = np.array([0.5, -1.25, 2.0, 1.5, 3.0, -0.25, 0.75, 2.5])
    topics = np.repeat([f"t{i}" for i in range(8)], 3)
    values = np.repeat(means, 3) + np.tile([-0.1, 0.0, 0.1], 8)  # topic means stay `means`
    got = signed_rank_test(values, topics)
    ranks = sps.rankdata(np.abs(means))
    observed = min(ranks[means > 0].sum(), ranks[means < 0].sum())
    null = [min(ranks[np.array(s) > 0].sum(), ranks[np.array(s) < 0].sum())
            for s in itertools.product([-1, 1], repeat=8)]
    assert got.p_value == pytest.approx(np.mean(np.array(null) <= observed))
    assert got.method == "wilcoxon signed-rank (topic means)"


def test_signed_rank_degenerate_cases() -> None:
    assert signed_rank_test(np.zeros(4), np.array(list("aabb"))).p_value == 1.0
    assert np.isnan(signed_rank_test(np.zeros(0), np.array([])).p_value)


def test_no_pairs_gives_nan_rows_without_warnings() -> None:
    table = stance_summary(frame(pair("t", "p", 1, 1, labels=("refusal", "refusal"))))
    assert metric(table, "adherence_gap")["n"] == 0
    assert metric(table, "asymmetric_hedging_rate")["n"] == 0
    assert stance_pairs(frame([])).empty
