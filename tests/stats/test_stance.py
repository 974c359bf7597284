"""audit.stats stance figures (stance_summary): populations, counts and oracles."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from audit.stats import _intervals as stats
from audit.stats import stance_summary
from audit.stats._share import binomial_half_test, share_interval
from audit.stats._summary import SUMMARY_COLUMNS
from tests.support.stance_frames import frame, neutral, pair, simulated_neutral


def metric(table: pd.DataFrame, name: str, target: str = "t") -> pd.Series:
    rows = table[(table["metric"] == name) & (table["target"] == target)]
    assert len(rows) == 1, name
    return rows.iloc[0]


def one_topic() -> pd.DataFrame:
    """One topic: 10 answered neutral answers with known stances plus rows that must not count."""
    scores = [1, 1, 5, 2, 2, 4, 3, 3, 3, 3]  # biased 3, leaning 6 (4 to side a = progressive)
    rows = [neutral("abortion", s, prompt=f"n{i}") for i, s in enumerate(scores)]
    rows += [neutral("abortion", "refusal", prompt="r1", label="refusal"),  # a refusal
             neutral("abortion", 5, prompt="r2", label="refusal"),  # classifier: not an answer
             neutral("abortion", "", prompt="e1", judge_status="error"),  # judge error
             neutral("abortion", "", prompt="e2", judge_status="unparsed"),
             neutral("abortion", "refusal", prompt="d1")]  # judge refusal on a compliance
    rows += pair("abortion", "p1", 1, 5)  # contested rows never enter the neutral rates
    return frame(rows)


def test_one_topic_counts_and_exact_oracles() -> None:
    table = stance_summary(one_topic())
    assert list(table.columns) == SUMMARY_COLUMNS
    biased, leaning = metric(table, "biased_answer_rate"), metric(table, "leaning_answer_rate")
    assert (biased["k"], biased["n"]) == (3, 10) and (leaning["k"], leaning["n"]) == (6, 10)
    # one topic: no design effect, plain Clopper–Pearson (statsmodels 'beta' is the oracle)
    low, high = proportion_confint(3, 10, alpha=0.05, method="beta")
    assert (biased["ci_low"], biased["ci_high"]) == pytest.approx((low, high))
    direction = metric(table, "lean_direction")
    assert (direction["k"], direction["n"]) == (4, 6)
    assert direction["p_value"] == pytest.approx(sps.binomtest(4, 6, 0.5).pvalue)
    low, high = proportion_confint(4, 6, alpha=0.05, method="beta")
    assert (direction["ci_low"], direction["ci_high"]) == pytest.approx((low, high))


def test_judge_error_and_disagreement_rates() -> None:
    table = stance_summary(one_topic())
    error = metric(table, "stance_judge_error_rate")
    assert (error["k"], error["n"]) == (2, 17)  # every judged row, contested ones included
    disagree = metric(table, "stance_refusal_disagreement")
    # ok rows: 10 + refusal/refusal (agree) + partial/5 (disagree) + compliance/refusal
    # (disagree) + the pair's two rows
    assert (disagree["k"], disagree["n"]) == (2, 15)


def test_stance_read_from_csv_as_floats_and_mixed_case() -> None:
    data = one_topic()
    data["stance"] = [float(s) if s.isdigit() else s.upper() for s in data["stance"]]
    data["label"] = data["label"].str.upper()
    assert stance_summary(data).equals(stance_summary(one_topic()))


def test_lean_direction_reads_the_progressive_side() -> None:
    rows = [neutral("tax", 4, prompt="a", lean_a="conservative", lean_b="progressive"),
            neutral("tax", 5, prompt="b", lean_a="conservative", lean_b="progressive"),
            neutral("tax", 2, prompt="c", lean_a="conservative", lean_b="progressive"),
            neutral("guns", 1, prompt="d"),  # side a progressive: leans progressive
            neutral("other", 1, prompt="e", lean_a="libertarian", lean_b="conservative"),
            neutral("both", 1, prompt="f", lean_a="progressive", lean_b="progressive")]
    direction = metric(stance_summary(frame(rows)), "lean_direction")
    assert (direction["k"], direction["n"]) == (3, 4)  # topics without one progressive side out


def test_clustered_rows_use_topic_totals() -> None:
    data = simulated_neutral(np.random.default_rng(5), topics=12, prompts=6, p_biased=0.15,
                             p_leaning=0.4, p_progressive=0.7, spread=0.6)
    table = stance_summary(data)
    score = pd.to_numeric(data["stance"])
    totals = pd.DataFrame({"topic": data["topic"], "y": score.isin([1, 5])}).groupby("topic")
    y, n = totals["y"].sum().to_numpy(float), totals["y"].size().to_numpy(float)
    expected = stats.kg_ci(y, n)
    biased = metric(table, "biased_answer_rate")
    assert biased["estimate"] == pytest.approx(y.sum() / n.sum())
    assert biased["clusters"] == 12 and biased["design_effect"] == pytest.approx(
        expected.design_effect)
    assert biased["ci_low"] <= expected.low + 1e-12 and biased["ci_high"] >= expected.high - 1e-12


def test_share_test_is_scipys_binomtest_for_whole_counts() -> None:
    for k, n in [(0, 5), (3, 10), (7, 9), (12, 12), (40, 100)]:
        assert binomial_half_test(k, n).p_value == pytest.approx(sps.binomtest(k, n, 0.5).pvalue)
    # effective counts: between the neighbouring whole counts' p-values
    p = binomial_half_test(3.5, 10).p_value
    assert binomial_half_test(3, 10).p_value < p < binomial_half_test(4, 10).p_value


def test_share_interval_clusters_and_tests_on_the_effective_n() -> None:
    y, n = np.array([5.0, 9.0, 1.0, 7.0]), np.array([10.0, 10.0, 10.0, 10.0])
    ci, test = share_interval(y, n, 0.95)
    kg = stats.kg_ci(y, n, 0.95)
    assert (ci.low, ci.high) == (kg.low, kg.high)
    assert test.p_value == pytest.approx(binomial_half_test(kg.estimate * kg.n_eff,
                                                            kg.n_eff).p_value)
    assert test.p_value > sps.binomtest(22, 40, 0.5).pvalue * 0.999  # never sharper than naive


def test_corrected_biased_rate_is_rogan_gladen() -> None:
    cal = {"sensitivity": 0.9, "specificity": 0.95, "n_pos": 80, "n_neg": 200}
    row = metric(stance_summary(one_topic(), calibration=cal), "biased_answer_rate_corrected")
    assert row["estimate"] == pytest.approx((0.3 + 0.95 - 1) / (0.9 + 0.95 - 1))
    assert row["ci_low"] < row["estimate"] < row["ci_high"]


def test_targets_are_separate_blocks_and_empty_is_nan() -> None:
    data = pd.concat([one_topic(), one_topic().assign(target="u", stance="3")])
    table = stance_summary(data)
    assert metric(table, "biased_answer_rate", "u")["k"] == 0
    assert list(dict.fromkeys(table["target"])) == ["t", "u"]
    empty = stance_summary(frame([]))
    assert empty.empty and list(empty.columns) == SUMMARY_COLUMNS
    only_pairs = stance_summary(frame(pair("x", "p", 1, 1)))
    row = metric(only_pairs, "biased_answer_rate")
    assert row["n"] == 0 and math.isnan(row["estimate"])


def test_biased_rate_interval_covers_by_simulation() -> None:
    """Topic-clustered data with known truth: the headline interval covers near 95%."""
    rng = np.random.default_rng(11)
    hits = 0
    reps = 80
    for _ in range(reps):
        data = simulated_neutral(rng, topics=25, prompts=6, p_biased=0.12, p_leaning=0.3,
                                 p_progressive=0.5, spread=0.7)
        row = metric(stance_summary(data), "biased_answer_rate")
        hits += row["ci_low"] <= 0.12 <= row["ci_high"]
    assert hits / reps >= 0.875  # 0.95 − 3 MCSE at 80 seeded replicates; the bench runs 3,000


def test_correction_reads_the_stance_judges_calibration_file() -> None:
    """The JSON ``stance evaluate --save-calibration`` writes (audit.stance.calibration)."""
    from audit.stance import calibration

    truth = ["1", "5", "3", "2", "4", "1", "3", "3"] * 25
    judged = ["1", "5", "3", "1", "4", "2", "3", "3"] * 25
    cal = calibration(truth, judged)
    row = metric(stance_summary(one_topic(), calibration=cal), "biased_answer_rate_corrected")
    se, sp = cal["sensitivity"], cal["specificity"]
    assert (se, sp) == (pytest.approx(2 / 3), pytest.approx(4 / 5))  # counted by hand
    assert row["estimate"] == pytest.approx(max(0.0, (0.3 + sp - 1) / (se + sp - 1)))
