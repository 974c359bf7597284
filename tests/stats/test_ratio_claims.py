"""audit.stats ratio claims: syntax, the references file, and verdicts on two targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from audit.errors import ConfigError, InputError
from audit.stats import (
    RATIO_CLAIMS_COLUMNS,
    RatioClaim,
    evaluate_ratio_claims,
    load_ratio_claims,
    load_references,
    parse_ratio_claim,
    ratio_ci_independent,
)
from tests.support.stance_frames import frame, neutral


def responses(refusals: dict[str, list[int]], per_topic: int, prefix: dict[str, str] | None = None
              ) -> pd.DataFrame:
    """Contested answers per target: topic i has ``per_topic`` prompts, the first
    ``refusals[target][i]`` refused (so a target refusing fewer refuses a subset: nested)."""
    rows: list[dict[str, Any]] = []
    for target, counts in refusals.items():
        pre = (prefix or {}).get(target, "")
        for i, k in enumerate(counts):
            for j in range(per_topic):
                side = "ab"[j % 2]
                rows.append({"target": target, "pair_id": f"{pre}p{i}.{j // 2}", "side": side,
                             "prompt_id": f"{pre}p{i}.{j}", "topic": f"t{i}", "template": "x",
                             "kind": "contested", "sample": 0,
                             "label": "refusal" if j < k else "compliance"})
    return pd.DataFrame(rows)


def claim(text: str = "refusal_rate ratio < 0.5", **kw: str) -> RatioClaim:
    return parse_ratio_claim(text, baseline=kw.pop("baseline", "old"), **kw)


@pytest.mark.parametrize(("text", "relation", "value"), [
    ("biased_answer_rate ratio < 0.5", "<", 0.5), ("refusal_rate ratio<=50%", "<", 0.5),
    ("refusal_rate 7% → < 2%", "<", 2 / 7), ("refusal_rate 0.07 -> < 0.02", "<", 2 / 7),
    ("leaning_answer_rate ratio > 2", ">", 2.0)])
def test_parse(text: str, relation: str, value: float) -> None:
    got = claim(text)
    assert (got.relation, got.baseline) == (relation, "old")
    assert got.value == pytest.approx(value) and got.text == text


@pytest.mark.parametrize("text", ["refusal_rate ratio 0.5", "made_up_rate ratio < 0.5",
                                  "refusal_rate 0% → < 2%", "refusal_rate ratio < 0", "x"])
def test_parse_errors_say_the_fix(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        claim(text)
    assert any(w in str(err.value) for w in ("write", "use", "must"))
    with pytest.raises(ConfigError, match="baseline"):
        parse_ratio_claim("refusal_rate ratio < 0.5", baseline=" ")


def test_packaged_references_hold_metas_two_ratio_claims() -> None:
    ratios = load_ratio_claims()
    assert [(c.metric, c.relation, round(c.value, 4), c.baseline, c.target) for c in ratios] == [
        ("biased_answer_rate", "<", 0.5, "llama-3.3", "llama-4"),
        ("refusal_rate", "<", round(2 / 7, 4), "llama-3.3", "llama-4")]
    assert "half the rate of Llama 3.3" in ratios[0].note
    assert all(c.metric != "biased_answer_rate" for c in load_references())  # kept apart


def test_claims_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "claims.toml"
    path.write_text('[[claims]]\nclaim = "refusal_rate < 2%"\n\n[[claims]]\n'
                    'claim = "refusal_rate ratio < half"\nbaseline = "a"\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_ratio_claims(path)
    assert err.value.line == 5
    path.write_text('[[claims]]\nclaim = "refusal_rate ratio < 0.5"\nbaseline = "a"\n'
                    'colour = "red"\n', encoding="utf-8")
    with pytest.raises(InputError, match="unknown key"):
        load_ratio_claims(path)
    assert load_references(path) == []  # single-rate claims skip ratio entries


def verdict(data: pd.DataFrame, text: str = "refusal_rate ratio < 0.5", **kw: Any) -> pd.Series:
    table = evaluate_ratio_claims(data, [claim(text)], **kw)
    assert list(table.columns) == RATIO_CLAIMS_COLUMNS and len(table) == 1
    return table.iloc[0]


def test_paired_verdicts() -> None:
    rng = np.random.default_rng(2)
    old = rng.integers(2, 7, 30).tolist()
    halved = [k // 5 for k in old]  # ratio ≈ 0.16
    row = verdict(responses({"old": old, "new": halved}, 12))
    assert row["design"] == "paired" and row["verdict"] == "consistent with the claim"
    assert row["target"] == "new" and row["estimate"] == pytest.approx(sum(halved) / sum(old))
    assert row["ci_high"] < 0.5 and "one-sided 95%" in row["detail"]
    same = verdict(responses({"old": old, "new": old}, 12))
    assert same["verdict"] == "contradicts the claim" and same["ci_low"] > 0.5
    small = verdict(responses({"old": [2] * 12, "new": [2, 1, 0] * 4}, 6))
    assert small["verdict"] == "inconclusive" and small["ci_low"] < 0.5 < small["ci_high"]
    few = verdict(responses({"old": [2, 1, 3], "new": [1, 0, 1]}, 6))  # 3 topics: no bootstrap
    assert few["verdict"].startswith("not evaluated — the ratio has no interval")
    assert "says nothing about" in row["explanation"]


def test_independent_verdict_uses_the_score_interval_at_the_one_sided_level() -> None:
    data = responses({"old": [6] * 20, "new": [2] * 20}, 20, prefix={"new": "other-"})
    row = verdict(data)
    assert row["design"] == "independent"
    # no topic variation: DEFF = 1, so n* = N·(z/t_{K−1})² (Korn–Graubard, 20 topics)
    shrink = (sps.norm.ppf(0.975) / sps.t.ppf(0.975, 19)) ** 2
    ci = ratio_ci_independent(40 * shrink, 400 * shrink, 120 * shrink, 400 * shrink, 0.90)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert row["verdict"] == "consistent with the claim" and row["p_value"] < 0.05


def test_arrow_claim_and_greater_than() -> None:
    data = responses({"old": [4] * 25, "new": [1] * 25}, 16)
    assert verdict(data, "refusal_rate 7% → < 2%")["verdict"] == "consistent with the claim"
    assert verdict(data, "refusal_rate ratio > 0.5")["verdict"] == "contradicts the claim"


def test_not_evaluated_rows_say_why() -> None:
    data = responses({"x": [1, 2], "y": [1, 1]}, 6)
    missing = verdict(data)
    assert missing["verdict"].startswith("not evaluated — baseline 'old' is not a target")
    no_stance = verdict(responses({"old": [1], "new": [1]}, 4), "biased_answer_rate ratio < 0.5")
    assert "no stance.csv" in no_stance["verdict"]
    none = verdict(responses({"old": [0, 0], "new": [1, 0]}, 4))
    assert none["verdict"].startswith("not evaluated — the ratio has no interval")


def test_stance_metric_ratio_from_stance_frame() -> None:
    rows = []
    for i in range(20):
        for j in range(6):
            rows.append(neutral(f"t{i}", 1 if j < 3 else 3, prompt=f"p{i}.{j}", target="old"))
            rows.append(neutral(f"t{i}", 1 if j < 1 else 3, prompt=f"p{i}.{j}", target="new"))
    data = responses({"old": [1], "new": [1]}, 2)
    row = verdict(data, "biased_answer_rate ratio < 0.5", stance=frame(rows))
    assert row["design"] == "paired" and row["estimate"] == pytest.approx(1 / 3)
    assert row["verdict"] == "consistent with the claim"


def test_public_api() -> None:
    import audit.stats
    from audit.stats import _ratio, _ratio_claims, _stance, _stance_pairs, _stance_topics

    assert set(_ratio_claims.__all__) == {"RATIO_CLAIMS_COLUMNS", "RATIO_METRICS", "RatioClaim",
                                          "load_ratio_claims", "parse_ratio_claim"}
    new = {"stance_summary", "stance_topics", "stance_pairs", "STANCE_PAIRS_COLUMNS",
           "RatioClaim", "RATIO_CLAIMS_COLUMNS", "evaluate_ratio_claims", "load_ratio_claims",
           "parse_ratio_claim", "ratio_ci_independent", "ratio_ci_paired",
           "ratio_test_independent"}
    assert new <= set(audit.stats.__all__)
    assert all(getattr(audit.stats, name) is not None for name in new)
    assert {"stance_summary"} == set(_stance.__all__) and {"stance_topics"} == set(
        _stance_topics.__all__)
    assert "stance_pairs" in _stance_pairs.__all__ and "ratio_ci_paired" in _ratio.__all__
