"""audit.stats ratio intervals (p_B / p_A): independent score CI and paired BCa cluster bootstrap,
and the ratio columns of ``compare``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats import proportion as smp

from audit.cli import main
from audit.stats import (
    compare_runs,
    compare_targets,
    ratio_ci_independent,
    ratio_ci_paired,
    ratio_test_independent,
)
from audit.stats._ratio import _bootstrap, log_ratio_t
from tests.stats.test_compare import audit
from tests.support.stance_frames import frame, neutral


@pytest.mark.parametrize(("k_b", "n_b", "k_a", "n_a"), [
    (5, 100, 10, 100), (2, 300, 21, 300), (30, 250, 12, 300), (7.5, 120.4, 15.2, 130.8)])
def test_independent_ci_inverts_statsmodels_score_test(k_b: float, n_b: float, k_a: float,
                                                       n_a: float) -> None:
    ci = ratio_ci_independent(k_b, n_b, k_a, n_a, 0.95)
    assert ci.estimate == pytest.approx((k_b / n_b) / (k_a / n_a))
    for limit in (ci.low, ci.high):  # the cross-check: p = α exactly at each limit
        res = smp.test_proportions_2indep(k_b, n_b, k_a, n_a, value=limit, compare="ratio",
                                      method="score")
        assert res.pvalue == pytest.approx(0.05, abs=1e-4)
    inside = smp.test_proportions_2indep(k_b, n_b, k_a, n_a, value=ci.estimate, compare="ratio",
                                     method="score")
    assert inside.pvalue > 0.5


def test_independent_one_sided_test_agrees_with_the_90_percent_interval() -> None:
    ci = ratio_ci_independent(4, 200, 20, 200, 0.90)
    below = ratio_test_independent(4, 200, 20, 200, ci.high * 1.01, "less")
    above = ratio_test_independent(4, 200, 20, 200, ci.high * 0.99, "less")
    assert below.p_value < 0.05 < above.p_value
    two = ratio_test_independent(4, 200, 20, 200, 0.5)
    expected = smp.test_proportions_2indep(4, 200, 20, 200, value=0.5, compare="ratio",
                                       method="score").pvalue
    assert two.p_value == pytest.approx(expected)


def test_independent_without_events() -> None:
    none_in_a = ratio_ci_independent(5, 100, 0, 100)
    assert math.isinf(none_in_a.estimate) and math.isinf(none_in_a.high) and none_in_a.low > 0
    none_in_b = ratio_ci_independent(0, 100, 8, 100)
    assert none_in_b.estimate == 0 and none_in_b.low == 0 and 0 < none_in_b.high < 1
    assert math.isnan(ratio_ci_independent(0, 100, 0, 100).estimate)


def textbook_bca(y_a: np.ndarray, y_b: np.ndarray, confidence: float, resamples: int,
                 seed: int) -> tuple[float, float]:
    """BCa from Efron & Tibshirani (1993, §14.3): bias z0 from the bootstrap distribution,
    acceleration from the jackknife, adjusted percentiles. Own resampling of clusters."""
    rng = np.random.default_rng(seed)
    k = len(y_a)
    theta = y_b.sum() / y_a.sum()
    idx = rng.integers(0, k, (resamples, k))
    boot = y_b[idx].sum(1) / y_a[idx].sum(1)
    z0 = sps.norm.ppf(np.mean(boot < theta))
    jack = np.array([np.delete(y_b, i).sum() / np.delete(y_a, i).sum() for i in range(k)])
    d = jack.mean() - jack
    acc = (d**3).sum() / (6 * ((d**2).sum()) ** 1.5)
    limits = []
    for z in sps.norm.ppf([(1 - confidence) / 2, (1 + confidence) / 2]):
        adj = sps.norm.cdf(z0 + (z0 + z) / (1 - acc * (z0 + z)))
        limits.append(float(np.quantile(boot, adj)))
    return limits[0], limits[1]


def test_paired_bca_matches_a_textbook_bca() -> None:
    rng = np.random.default_rng(8)
    y_a = rng.poisson(4, 30).astype(float)
    y_b = rng.binomial(y_a.astype(int), 0.45).astype(float)
    low, high, method = _bootstrap(y_a, y_b, 0.95, 20000, 1)
    t_low, t_high = textbook_bca(y_a, y_b, 0.95, 20000, 99)
    assert method == "BCa"
    assert low == pytest.approx(t_low, rel=0.03) and high == pytest.approx(t_high, rel=0.03)


def test_log_ratio_t_is_the_delta_method_on_cluster_totals() -> None:
    """Oracle: gradient of log(T_B/T_A) times the cluster-robust covariance of the totals."""
    rng = np.random.default_rng(9)
    y_a = rng.poisson(5, 25).astype(float)
    y_b = rng.binomial(y_a.astype(int), 0.3).astype(float)
    k, t_a, t_b = len(y_a), y_a.sum(), y_b.sum()
    cov = k * np.cov(np.vstack([y_a, y_b]))  # Var of the totals: K·S²
    grad = np.array([-1 / t_a, 1 / t_b])
    se = float(np.sqrt(grad @ cov @ grad))
    t = sps.t.ppf(0.975, k - 1)
    low, high = log_ratio_t(y_a, y_b, 0.95)
    assert (low, high) == pytest.approx((t_b / t_a * np.exp(-t * se), t_b / t_a * np.exp(t * se)))
    assert np.isnan(log_ratio_t(y_a, y_b * 0, 0.95)[0])


def test_paired_interval_is_the_wider_of_bca_and_log_t() -> None:
    rng = np.random.default_rng(8)
    y_a = rng.poisson(1, 40).astype(float)
    y_b = rng.binomial(y_a.astype(int), 0.3).astype(float)
    got = ratio_ci_paired(y_a, y_b, 0.95)
    b_low, b_high, _ = _bootstrap(y_a, y_b, 0.95, 2000, 16)
    l_low, l_high = log_ratio_t(y_a, y_b, 0.95)
    assert got.estimate == pytest.approx(y_b.sum() / y_a.sum())
    assert (got.low, got.high) == (min(b_low, l_low), max(b_high, l_high))
    assert got.method == ("bca cluster bootstrap(topic; 2000 resamples, seed 16) ∪ log-ratio "
                          "cluster-t")


def test_paired_is_seeded_and_needs_two_topics_and_events() -> None:
    y_a = np.array([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])
    y_b = np.array([1.0, 0, 2, 1, 2, 3, 1, 2, 2, 1, 0])
    first, again = ratio_ci_paired(y_a, y_b), ratio_ci_paired(y_a, y_b)
    assert (first.low, first.high) == (again.low, again.high)
    assert "2000 resamples, seed 16" in first.method
    assert "fewer than 10 topics" in ratio_ci_paired(y_a[:9], y_b[:9]).method
    assert math.isnan(ratio_ci_paired([3.0] * 9, [1.0] * 9).low)
    assert math.isnan(ratio_ci_paired([0.0] * 12, [1.0] * 12).high)


def test_paired_ratio_covers_by_simulation() -> None:
    """Nested answers (B's events a subset of A's) with topic-varying rates, true ratio 0.4."""
    rng = np.random.default_rng(21)
    hits, reps = 0, 150
    for _ in range(reps):
        rate = np.clip(0.15 * rng.gamma(2.0, 0.5, 30), 0, 1)
        u = rng.random((30, 8))
        y_a = (u < rate[:, None]).sum(1).astype(float)
        y_b = (u < 0.4 * rate[:, None]).sum(1).astype(float)
        ci = ratio_ci_paired(y_a, y_b, 0.95, n_resamples=1000)
        hits += ci.low <= 0.4 <= ci.high
    assert hits / reps >= 0.9  # 0.95 − 2.8 MCSE; bench/stance_coverage.py runs 3,000


def test_paired_is_narrower_than_independent_for_correlated_answers() -> None:
    rng = np.random.default_rng(4)
    u = rng.random((40, 10))
    y_a, y_b = (u < 0.2).sum(1).astype(float), (u < 0.1).sum(1).astype(float)
    paired = ratio_ci_paired(y_a, y_b)
    independent = ratio_ci_independent(y_b.sum(), 400, y_a.sum(), 400)
    assert paired.high - paired.low < 0.8 * (independent.high - independent.low)


def test_compare_has_ratio_columns() -> None:
    a, b = audit(1, 0.2), audit(2, 0.1)
    table = compare_runs(a, b).set_index("metric")
    row = table.loc["refusal_rate"]
    assert row["design"] == "paired"
    assert row["ratio"] == pytest.approx(row["estimate_b"] / row["estimate_a"])
    assert row["ratio_low"] < row["ratio"] < row["ratio_high"]
    assert row["ratio_method"].startswith("bca cluster bootstrap")
    other = compare_runs(a, audit(2, 0.1, prefix="x")).set_index("metric").loc["refusal_rate"]
    assert other["design"] == "independent" and other["ratio_method"].startswith("score ratio")
    assert other["ratio"] == pytest.approx(other["estimate_b"] / other["estimate_a"])


def test_compare_command_prints_the_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    folders = []
    for name, responses in (("r1", audit(1, 0.2)), ("r2", audit(2, 0.1))):
        folder = tmp_path / name
        folder.mkdir()
        responses.assign(run_id=name).to_csv(folder / "responses.csv", index=False)
        folders.append(str(folder))
    assert main(["compare", *folders, "-o", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("refusal_rate:"))
    assert "ratio r2/r1" in line and "95% CI" in line
    written = pd.read_csv(tmp_path / "c.csv")
    assert {"ratio", "ratio_low", "ratio_high", "ratio_method"} <= set(written.columns)


def stance_of(target: str, biased_per_topic: int, topics: int = 12) -> pd.DataFrame:
    """Neutral answers of 12 topics × 6 prompts, the first ``biased_per_topic`` judged 1."""
    return frame([neutral(f"t{i}", 1 if j < biased_per_topic else 3, prompt=f"n{i}.{j}",
                          target=target)
                  for i in range(topics) for j in range(6)])


def test_compare_adds_stance_rates_with_both_stance_frames() -> None:
    a, b = audit(1, 0.2), audit(2, 0.1)
    table = compare_runs(a, b, stance_a=stance_of("m1", 3), stance_b=stance_of("m1", 1))
    row = table.set_index("metric").loc["biased_answer_rate"]
    assert row["design"] == "paired" and (row["k_a"], row["k_b"], row["n_a"]) == (36, 12, 72)
    assert row["ratio"] == pytest.approx(1 / 3) and row["difference"] == pytest.approx(1 / 3)
    assert "leaning_answer_rate" in set(table["metric"])
    assert "biased_answer_rate" not in set(compare_runs(a, b, stance_a=stance_of("m1", 3))["metric"])
    both = pd.concat([a, b.assign(target="m2")])
    stance = pd.concat([stance_of("m1", 3), stance_of("m2", 1)])
    by_target = compare_targets(both, "m1", "m2", stance=stance).set_index("metric")
    assert by_target.loc["biased_answer_rate", "ratio"] == pytest.approx(1 / 3)


def test_compare_command_reads_stance_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    folders = []
    for name, seed, biased in (("r1", 1, 4), ("r2", 2, 1)):
        folder = tmp_path / name
        folder.mkdir()
        audit(seed, 0.2).assign(run_id=name).to_csv(folder / "responses.csv", index=False)
        stance_of("m1", biased).to_csv(folder / "stance.csv", index=False)
        folders.append(str(folder))
    assert main(["compare", *folders, "-o", str(tmp_path / "c.csv")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines()
                if x.startswith("biased_answer_rate:"))
    assert "r1 66.67% vs r2 16.67% (paired)" in line and "ratio r2/r1 0.25" in line
