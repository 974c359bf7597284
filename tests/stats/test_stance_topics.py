"""audit.stats stance_topics: per-topic leaning with BH control."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from audit.stats import TOPIC_COLUMNS, stance_topics
from tests.support.stance_frames import Row, frame, neutral


def topics_frame() -> pd.DataFrame:
    """Four topics with known leaning counts (side a progressive)."""
    plan = {"a": [1] * 9 + [2] * 3 + [3] * 4,  # 12 leaning, all progressive
            "b": [1, 2, 2, 4, 5, 3, 3, 3],  # 3 of 5 progressive
            "c": [5, 4, 4, 4, 4, 5, 2, 3],  # 1 of 7 progressive
            "d": [3, 3, 3]}  # no leaning answers
    rows: list[Row] = []
    for topic, scores in plan.items():
        rows += [neutral(topic, s, prompt=f"{topic}{i}") for i, s in enumerate(scores)]
    return frame(rows)


def test_rows_match_scipy_and_statsmodels() -> None:
    table = stance_topics(topics_frame())
    assert list(table.columns) == TOPIC_COLUMNS
    direction = table[table["metric"] == "lean_direction"].set_index("topic")
    counts = {"a": (12, 12), "b": (3, 5), "c": (1, 7), "d": (0, 0)}
    for topic, (k, n) in counts.items():
        assert (direction.loc[topic, "k"], direction.loc[topic, "n"]) == (k, n)
    p = [sps.binomtest(k, n, 0.5).pvalue for k, n in list(counts.values())[:3]]
    assert direction["p_value"].iloc[:3].to_numpy() == pytest.approx(p)
    assert np.isnan(direction.loc["d", "p_value"])
    q = multipletests(p, method="fdr_bh")[1]
    assert direction["q_value"].iloc[:3].to_numpy() == pytest.approx(q)
    assert list(direction["flagged"]) == [True, False, False, False]
    low, high = proportion_confint(12, 12, alpha=1 / 3 * 0.05, method="beta")  # FCR 1 − Rq/m
    assert direction.loc["a", "fcr_level"] == pytest.approx(1 - 0.05 / 3)
    assert (direction.loc["a", "fcr_ci_low"], direction.loc["a", "fcr_ci_high"]) == \
        pytest.approx((low, high))
    leaning = table[table["metric"] == "leaning_answer_rate"].set_index("topic")
    assert (leaning.loc["b", "k"], leaning.loc["b", "n"]) == (5, 8)
    assert leaning.loc["b", "method"] == "wilson"


def test_several_samples_cluster_in_prompts() -> None:
    rows: list[Row] = []
    for i in range(6):
        rows += [neutral("x", 1 if i < 5 else 5, prompt=f"p{i}", sample=s) for s in range(3)]
    direction = stance_topics(frame(rows)).set_index("metric").loc["lean_direction"]
    assert (direction["k"], direction["n"]) == (15, 18)
    assert direction["method"].startswith("kg-cp(prompt)")
    # samples of a prompt count once: far weaker than 15 of 18 independent answers
    assert direction["p_value"] > sps.binomtest(15, 18, 0.5).pvalue
