"""neutral_refusal_rate(_broad): refusals among answers to neutral prompts, apart from the pairs."""

from __future__ import annotations

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from audit.stats import summary_table
from tests.support.audits import answer, frame, pair


def _neutral(target: str, topic: str, no: int, label: str) -> dict[str, object]:
    return answer(target, "", "", label, topic=topic, kind="neutral", prompt_id=f"{topic}.neutral.{no}")


def _rows(summary: pd.DataFrame, target: str) -> pd.DataFrame:
    return summary[summary["target"] == target].set_index("metric")


def test_counts_only_neutral_answers_and_leaves_the_pair_rates_alone() -> None:
    labels = {"t1": ["refusal", "compliance", "partial_refusal", "error"],
              "t2": ["compliance", "compliance", "refusal", "truncated"],
              "t3": ["partial_refusal", "compliance", "compliance", "compliance"]}
    neutral = [_neutral("m", t, i, lab) for t, labs in labels.items() for i, lab in enumerate(labs)]
    pairs = pair("m", "t1.essay", "compliance", "compliance", topic="t1")
    with_neutral = _rows(summary_table(frame(pairs + neutral)), "m")
    without = _rows(summary_table(frame(pairs)), "m")
    # by hand: answers = labels other than error/truncated → 3 + 3 + 4 = 10
    strict, broad = with_neutral.loc["neutral_refusal_rate"], with_neutral.loc["neutral_refusal_rate_broad"]
    assert (strict["k"], strict["n"]) == (2, 10) and strict["estimate"] == pytest.approx(0.2)
    assert (broad["k"], broad["n"]) == (4, 10) and broad["estimate"] == pytest.approx(0.4)
    assert strict["clusters"] == 3 and str(strict["method"]).startswith("kg-cp(topic")
    assert strict["ci_low"] <= 0.2 <= strict["ci_high"]
    assert "neutral_refusal_rate" not in without.index
    for metric in ("refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate"):
        assert with_neutral.loc[metric, "n"] == without.loc[metric, "n"], metric
        assert with_neutral.loc[metric, "estimate"] == without.loc[metric, "estimate"], metric


def test_one_topic_is_clopper_pearson() -> None:
    neutral = [_neutral("m", "t1", i, "refusal" if i < 3 else "compliance") for i in range(17)]
    row = _rows(summary_table(frame(neutral)), "m").loc["neutral_refusal_rate"]
    low, high = proportion_confint(3, 17, alpha=0.05, method="beta")
    assert (row["k"], row["n"]) == (3, 17)
    assert row["ci_low"] == pytest.approx(low, abs=1e-9) and row["ci_high"] == pytest.approx(high, abs=1e-9)
