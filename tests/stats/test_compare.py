"""audit.compare and the ``compare`` command."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from audit.cli import main
from audit.stats import _compare as compare
from audit.stats import _intervals as stats


def audit(seed: int, rate: float, target: str = "m1", prefix: str = "", topics: int = 10,
          templates: int = 4) -> pd.DataFrame:
    """A random audit: topics × templates pairs, labels drawn with the given refusal rate."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i, j in itertools.product(range(topics), range(templates)):
        for side in ("a", "b"):
            label = rng.choice(["refusal", "compliance", "error"], p=[rate, 0.95 - rate, 0.05])
            rows.append({"target": target, "pair_id": f"{prefix}p{i}.{j}", "side": side,
                         "prompt_id": f"{prefix}p{i}.{j}.{side}", "topic": f"t{i}",
                         "template": f"tm{j}", "kind": "contested", "sample": 0,
                         "label": str(label)})
    return pd.DataFrame(rows)


def by_metric(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("metric")


def test_public_api() -> None:
    assert set(compare.__all__) == {"COMPARISON_COLUMNS", "compare_runs", "compare_targets"}


def test_same_prompts_are_paired_and_clustered() -> None:
    a, b = audit(1, 0.1), audit(2, 0.3)
    table = compare.compare_runs(a, b, label_a="old", label_b="new")
    assert list(table.columns) == compare.COMPARISON_COLUMNS
    row = by_metric(table).loc["refusal_rate"]
    assert row["design"] == "paired"
    merged = a.merge(b, on="prompt_id", suffixes=("_a", "_b"))
    merged = merged[merged["label_a"].isin(["refusal", "compliance"])
                    & merged["label_b"].isin(["refusal", "compliance"])]
    ya, yb = merged["label_a"] == "refusal", merged["label_b"] == "refusal"
    per_topic = pd.DataFrame({"topic": merged["topic_a"], "b": ya & ~yb, "c": yb & ~ya, "n": 1})
    g = per_topic.groupby("topic")[["b", "c", "n"]].sum()
    ref = stats.clustered_bp_ci(g["b"], g["c"], g["n"])
    assert (row["difference"], row["ci_low"], row["ci_high"]) == pytest.approx(
        (ref.estimate, ref.low, ref.high))
    assert row["p_value"] == pytest.approx(stats.durkalski_test(g["b"], g["c"]).p_value)
    assert (row["only_a"], row["only_b"]) == (g["b"].sum(), g["c"].sum())
    assert row["n_paired"] == len(merged)
    assert row["verdict"] == "higher in new"


def test_different_prompts_are_independent() -> None:
    a, b = audit(1, 0.1, topics=1), audit(2, 0.3, prefix="x", topics=1)
    row = by_metric(compare.compare_runs(a, b)).loc["refusal_rate"]
    assert row["design"] == "independent" and row["n_paired"] == 0
    # one topic: DEFF 1, so the effective counts are the counts
    ref = stats.newcombe_diff_ci(row["k_a"], row["n_a"], row["k_b"], row["n_b"])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ref.low, ref.high))
    assert row["p_value"] == pytest.approx(
        stats.score_test_2indep(row["k_a"], row["n_a"], row["k_b"], row["n_b"]).p_value)
    assert row["verdict"] in ("higher in B", "no significant difference")


def test_one_topic_paired_test_is_mcnemar_or_sign_test_on_prompts() -> None:
    a, b = audit(1, 0.1, topics=1, templates=30), audit(2, 0.3, topics=1, templates=30)
    row = by_metric(compare.compare_runs(a, b)).loc["refusal_rate"]
    assert row["design"] == "paired" and row["test"] == "mcnemar-exact"
    assert row["p_value"] == pytest.approx(
        stats.mcnemar_exact(int(row["only_a"]), int(row["only_b"])).p_value)
    # three samples of every prompt: the test counts prompts that lean one way, not answers
    a3 = pd.concat([audit(1 + s, 0.1, topics=1, templates=30).assign(sample=s)
                    for s in range(3)], ignore_index=True)
    b3 = pd.concat([audit(9 + s, 0.3, topics=1, templates=30).assign(sample=s)
                    for s in range(3)], ignore_index=True)
    row = by_metric(compare.compare_runs(a3, b3)).loc["refusal_rate"]
    m = a3.merge(b3, on=["prompt_id", "sample"], suffixes=("_a", "_b"))
    m = m[m["label_a"].isin(["refusal", "compliance"]) & m["label_b"].isin(["refusal",
                                                                           "compliance"])]
    ya, yb = m["label_a"] == "refusal", m["label_b"] == "refusal"
    g = pd.DataFrame({"p": m["prompt_id"], "b": ya & ~yb, "c": yb & ~ya}).groupby("p").sum()
    lean_a, lean_b = int((g["b"] > g["c"]).sum()), int((g["c"] > g["b"]).sum())
    assert row["test"] == "sign-test(pairs)"
    assert row["p_value"] == pytest.approx(sps.binomtest(lean_a, lean_a + lean_b).pvalue)


def test_no_difference_and_no_data() -> None:
    a = audit(3, 0.1)
    table = by_metric(compare.compare_runs(a, a))
    assert table.loc["refusal_rate", "verdict"] == "no significant difference"
    assert table.loc["refusal_rate", "difference"] == 0
    empty = compare.compare_runs(a.iloc[0:0], a.iloc[0:0])
    assert set(empty["verdict"]) == {"not compared — no data"}


def test_compare_targets() -> None:
    both = pd.concat([audit(1, 0.05, target="m1"), audit(2, 0.4, target="m2")])
    table = by_metric(compare.compare_targets(both, "m1", "m2"))
    assert table.loc["refusal_rate", "verdict"] == "higher in m2"
    assert table.loc["asymmetric_refusal_rate", "design"] == "paired"


def test_compare_targets_is_compare_runs_on_each_targets_rows() -> None:
    both = pd.concat([audit(1, 0.05, target="m1"), audit(2, 0.4, target="m2"),
                      audit(3, 0.2, target="m3")])  # a repeated index, a third target
    both = pd.concat([both, both.iloc[[4, 90]].assign(label="refusal")])  # repeated units
    want = compare.compare_runs(both[both["target"] == "m1"], both[both["target"] == "m2"],
                                label_a="m1", label_b="m2", confidence=0.9)
    got = compare.compare_targets(both, "m1", "m2", confidence=0.9)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_units_from_the_whole_frame_are_each_targets_own() -> None:
    """comparison.csv and the ratio claims of a run share the units built from the normalised
    frame of every target: the same rows as normalising each target's rows apart."""
    from audit.stats import evaluate_ratio_claims, load_ratio_claims

    extra = audit(4, 0.3, target="m2", prefix="x", topics=3)  # prompts m1 lacks (sorted first)
    both = pd.concat([audit(1, 0.05, target="m1"), audit(2, 0.4, target="m2"), extra,
                      audit(3, 0.2, target=" m3 ")])
    both = pd.concat([both, both.iloc[[4, 90]].assign(label="refusal")])  # repeated units
    units = compare.targets_units(both, ["m1", "m2", "m3"])
    for a, b in (("m1", "m2"), ("m2", "m3")):
        got = compare.compare_units(units[a], units[b], a, b, confidence=0.9)
        pd.testing.assert_frame_equal(got, compare.compare_targets(both, a, b, confidence=0.9),
                                      check_exact=True)
    claims = [c for c in load_ratio_claims() if c.metric in compare.METRICS]
    claims = [replace(c, baseline="m1", target="m2") for c in claims]
    assert claims
    pd.testing.assert_frame_equal(evaluate_ratio_claims(both, claims, target_units=units),
                                  evaluate_ratio_claims(both, claims), check_exact=True)


def test_a_repeated_unit_keeps_its_last_row_like_duplicated() -> None:
    unit = pd.Series(pd.Categorical(["a", "b", "a", "c", "b", "a", "c"]))
    sample = np.array([0, 0, 0, 1, 1, 0, 2])
    for s in (sample, sample - 7, sample * 2**61):  # the last: no room for an int64 key
        want = ~pd.DataFrame({"unit": unit, "sample": s}).duplicated(keep="last").to_numpy()
        got = compare._last_of_each(unit, s)
        assert got is not None and got.tolist() == want.tolist()
    assert compare._last_of_each(unit[:3], sample[:3] + [0, 0, 1]) is None  # no repeat: no copy


@pytest.mark.parametrize("scale", [1, 10**9])  # a lookup table; keys too sparse for one
def test_matched_units_are_intersect1d(scale: int) -> None:
    rng = np.random.default_rng(scale)
    keys_a = rng.permutation(500)[:300].astype(np.int64) * scale
    keys_b = rng.permutation(500)[:200].astype(np.int64) * scale
    _, want_a, want_b = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
    at_a, at_b = compare._matches((keys_a, keys_b))
    assert at_a.tolist() == want_a.tolist() and at_b.tolist() == want_b.tolist()
    none = compare._matches((keys_a[:0], keys_b))
    assert len(none[0]) == len(none[1]) == 0


# --- the compare command -----------------------------------------------------------------------


def run_folder(root: Path, name: str, frame: pd.DataFrame) -> Path:
    folder = root / name
    folder.mkdir()
    frame.to_csv(folder / "responses.csv", index=False)
    return folder


def test_compare_command_two_runs(tmp_path: Path) -> None:
    one = run_folder(tmp_path, "run1", audit(1, 0.05))
    two = run_folder(tmp_path, "run2", audit(2, 0.4))
    out = tmp_path / "comparison.csv"
    assert main(["compare", str(one), str(two), "-o", str(out)]) == 0
    table = pd.read_csv(out).set_index("metric")
    assert table.loc["refusal_rate", "verdict"] == "higher in run2"
    assert list(table.reset_index().columns) == compare.COMPARISON_COLUMNS


def test_compare_command_two_targets_of_one_run(tmp_path: Path) -> None:
    both = pd.concat([audit(1, 0.05, target="m1"), audit(2, 0.4, target="m2")])
    folder = run_folder(tmp_path, "run", both)
    out = tmp_path / "c.csv"
    assert main(["compare", str(folder), "--targets", "m1", "m2", "-o", str(out)]) == 0
    assert pd.read_csv(out).set_index("metric").loc["refusal_rate", "label_b"] == "m2"
    assert main(["compare", str(folder), "-o", str(out)]) == 0  # exactly two targets: implied


@pytest.mark.parametrize("case", ["missing", "ambiguous", "unknown_target"])
def test_compare_command_errors_exit_2(tmp_path: Path, case: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    both = pd.concat([audit(1, 0.05, target="m1"), audit(2, 0.4, target="m2")])
    folder = run_folder(tmp_path, "run", both)
    other = run_folder(tmp_path, "other", audit(3, 0.1))
    argv = {"missing": ["compare", str(tmp_path / "nope"), str(other)],
            "ambiguous": ["compare", str(folder), str(other)],
            "unknown_target": ["compare", str(folder), "--targets", "m1", "m9"]}[case]
    assert main([*argv, "-o", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "x.csv").exists()


def test_compare_prints_n_a_for_a_rate_without_units() -> None:
    from audit.cli._stats import _pct

    assert _pct(float("nan")) == "n/a" and _pct(0.0712) == "7.12%"
