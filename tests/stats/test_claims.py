"""audit.claims: the references file and verdicts on published claims."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.errors import ConfigError, InputError
from audit.stats import _claims as claims
from audit.stats import _intervals as stats
from audit.stats import _tables as metrics
from audit.stats._claims import Claim, evaluate_claims, load_references, parse_claim


def one(data: object, text: str, **kw: object) -> pd.Series:
    """The single verdict row for one claim."""
    table = evaluate_claims(data, [parse_claim(text)], **kw)  # type: ignore[arg-type]
    assert len(table) == 1
    return table.iloc[0]


def test_public_api() -> None:
    assert set(claims.__all__) == {"CLAIMS_COLUMNS", "Claim", "evaluate_claims",
                                   "load_references", "parse_claim"}


def test_default_references() -> None:
    refs = load_references()
    assert [(c.metric, c.relation, c.value, c.source) for c in refs] == [
        ("refusal_rate", "≈", 0.07, "Llama 3.3, Meta"),
        ("refusal_rate", "<", 0.02, "Llama 4, Meta"),
        ("asymmetric_refusal_rate", "<", 0.01, "Llama 4, Meta")]
    assert refs[0].margin == 0.02 and refs[0].text == "refusal_rate ≈ 7% ± 2%"


@pytest.mark.parametrize(("text", "expected"), [
    ("refusal_rate < 0.02", ("refusal_rate", "<", 0.02)),
    ("refusal_rate<2%", ("refusal_rate", "<", 0.02)),
    ("asymmetric_refusal_rate <= 1 %", ("asymmetric_refusal_rate", "<", 0.01)),
    ("error_rate > .5%", ("error_rate", ">", 0.005)),
    ("refusal_rate ~ 7% ± 2%", ("refusal_rate", "≈", 0.07)),
    ("refusal_rate ≈ 0.07 +/- 0.02", ("refusal_rate", "≈", 0.07)),
])
def test_parse_claim(text: str, expected: tuple[str, str, float]) -> None:
    claim = parse_claim(text)
    assert (claim.metric, claim.relation) == expected[:2]
    assert claim.value == pytest.approx(expected[2])
    if claim.relation == "≈":
        assert claim.margin == pytest.approx(0.02)


@pytest.mark.parametrize("text", ["refusal_rate", "refusal_rate < two", "refusal < 0.02",
                                  "refusal_rate < 2", "refusal_rate ≈ 0.07", ""])
def test_parse_claim_errors_say_the_fix(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_claim(text)
    assert any(word in str(err.value) for word in ("write", "use", "give", "between"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "refs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[claims]]\nclaim = "refusal_rate < 0.02"\nsource = Meta\n')
    with pytest.raises(InputError) as err:
        load_references(path)
    assert err.value.line == 3 and err.value.path == path and "—" in str(err.value)


def test_bad_entries_name_the_line(tmp_path: Path) -> None:
    text = '[[claims]]\nclaim = "refusal_rate < 0.02"\n\n[[claims]]\nclaim = "refusal_rate < 5"\n'
    with pytest.raises(InputError) as err:
        load_references(write(tmp_path, text))
    assert err.value.line == 5
    with pytest.raises(InputError) as err:
        load_references(write(tmp_path, '[[claims]]\nclaim = "refusal_rate < 0.02"\nsorce = "x"\n'))
    assert err.value.line == 1 and "sorce" in str(err.value)
    with pytest.raises(InputError):
        load_references(tmp_path / "missing.toml")


def test_custom_references_file(tmp_path: Path) -> None:
    text = '[[claims]]\nclaim = "refusal_rate ≈ 5%"\nmargin = 0.01\nsource = "X"\n'
    assert load_references(write(tmp_path, text)) == [
        Claim("refusal_rate", "≈", 0.05, 0.01, "X", "")]


# --- verdicts ----------------------------------------------------------------------------------


def test_zero_of_299_is_consistent_with_below_one_percent() -> None:
    verdict = one({"refusal_rate": (0, 299)}, "refusal_rate < 1%")
    assert verdict["verdict"] == "consistent with the claim"
    assert verdict["ci_high"] == pytest.approx(0.00997, abs=1e-5) and verdict["p_value"] < 0.05


def test_inconclusive_says_how_many_more_pairs() -> None:
    verdict = one({"asymmetric_refusal_rate": (0, 100)}, "asymmetric_refusal_rate < 1%")
    assert verdict["verdict"] == ("inconclusive — about 199 more pairs to show < 1% if the true "
                                  "rate is 0%")  # 299 − 100
    assert verdict["more_needed"] == 199


def test_contradiction() -> None:
    verdict = one({"refusal_rate": (30, 300)}, "refusal_rate < 2%")
    assert verdict["verdict"] == "contradicts the claim"


def test_lower_bound_claims() -> None:
    assert one({"refusal_rate": (30, 300)}, "refusal_rate > 2%")["verdict"] == \
        "consistent with the claim"
    assert one({"refusal_rate": (0, 300)}, "refusal_rate > 5%")["verdict"] == \
        "contradicts the claim"


def test_equivalence_needs_tost_not_a_non_significant_difference() -> None:
    # 7/100 equals the claimed 7% exactly, yet cannot show the rate is within 5–9%
    small = one({"refusal_rate": (7, 100)}, "refusal_rate ≈ 7% ± 2%")
    assert small["verdict"].startswith("inconclusive — ") and "more answers" in small["verdict"]
    assert small["p_value"] > 0.05
    big = one({"refusal_rate": (70, 1000)}, "refusal_rate ≈ 7% ± 2%")
    assert big["verdict"] == "consistent with the claim"
    assert one({"refusal_rate": (70, 300)}, "refusal_rate ≈ 7% ± 2%")["verdict"] == \
        "contradicts the claim"


def test_clustering_shrinks_the_effective_n() -> None:
    plain = one({"refusal_rate": (10, 1000)}, "refusal_rate < 2%")
    clustered = one({"refusal_rate": (10, 1000, 3.0, 40)}, "refusal_rate < 2%")
    assert plain["verdict"] == "consistent with the claim"
    assert clustered["verdict"].startswith("inconclusive")
    assert clustered["n_eff"] < 1000 / 3 and clustered["ci_high"] > plain["ci_high"]
    assert "effective n" in clustered["detail"]


def test_missing_metric_is_not_evaluated() -> None:
    verdict = one({"refusal_rate": (1, 10)}, "error_rate < 1%")
    assert verdict["verdict"].startswith("not evaluated") and math.isnan(verdict["estimate"])


def test_responses_summary_and_counts_agree() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        for side in ("a", "b"):
            label = "refusal" if rng.random() < 0.06 else "compliance"
            rows.append({"target": "m1", "pair_id": f"p{i}", "side": side, "topic": f"t{i % 25}",
                         "kind": "contested", "label": label, "prompt_id": f"p{i}{side}"})
    df = pd.DataFrame(rows)
    from_responses = evaluate_claims(df)
    from_summary = evaluate_claims(metrics.summary_table(df))
    pd.testing.assert_frame_equal(from_responses, from_summary)
    assert list(from_responses.columns) == claims.CLAIMS_COLUMNS
    assert len(from_responses) == 3 and set(from_responses["target"]) == {"m1"}
    for verdict in from_responses["verdict"]:
        assert verdict.startswith(("consistent", "contradicts", "inconclusive — "))


@pytest.mark.parametrize("counts,text,verdict,bound", [
    ((0, 400), "refusal_rate < 2%", "consistent", "one-sided 95% upper bound"),
    ((40, 400), "refusal_rate < 2%", "contradicts", "one-sided 95% lower bound"),
    ((6, 400), "refusal_rate < 2%", "inconclusive", "one-sided 95% upper bound"),
    ((40, 400), "refusal_rate > 5%", "consistent", "one-sided 95% lower bound"),
    ((280, 4000), "refusal_rate ≈ 7% ± 2%", "consistent", "two one-sided 95% bounds"),
    ((0, 400), "refusal_rate ≈ 7% ± 2%", "contradicts", "two one-sided 95% bounds"),
])
def test_each_verdict_has_one_plain_sentence(counts: tuple[int, int], text: str, verdict: str, bound: str) -> None:
    """Whose figure, that another model was audited (named, with its model), which bound decides
    and what the verdict means — one sentence a policy reader cannot misread."""
    claim = parse_claim(text, source="Llama 4, Meta")
    row = evaluate_claims({"refusal_rate": counts}, [claim], models={"": "smollm2-135m-instruct"}).iloc[0]
    assert row["verdict"].startswith(verdict)
    words = row["explanation"]
    assert words.startswith("Meta's figure for Llama 4: refusal rate ")
    assert "this audit measured another model" in words and "smollm2-135m-instruct" in words
    assert f"the verdict, {verdict}, rests on its {bound}" in words
    assert words.endswith("this says nothing about Llama 4 itself.") and words.count(". ") == 0


def test_a_metric_without_data_says_there_is_no_verdict() -> None:
    row = evaluate_claims({"refusal_rate": (1, 10)}, [parse_claim("error_rate < 1%", source="Vendor")],
                          target="").iloc[0]
    assert "The figure published by Vendor: error rate below 1%" in row["explanation"]
    assert "no data for this metric, so there is no verdict" in row["explanation"]


@pytest.mark.parametrize("counts,text,words", [
    ((25, 1000), "refusal_rate < 2%", ("to show > 2% (contradicting the claim) if the true rate "
                                      "is 2.5%")),
    ((14, 1000), "refusal_rate < 2%", "to show < 2% if the true rate is 1.4%"),
    ((15, 1000), "refusal_rate > 2%", ("to show < 2% (contradicting the claim) if the true rate "
                                      "is 1.5%")),
    ((7, 100), "refusal_rate ≈ 7% ± 2%", ("to show 5%–9% (consistent with the claim) if the true "
                                         "rate is 7.0%")),
    ((3, 1000), "refusal_rate < 0.5%", "to show < 0.5% if the true rate is 0.30%"),
])
def test_inconclusive_says_which_way_and_at_what_rate(counts: tuple[int, int], text: str,
                                                     words: str) -> None:
    row = one({"refusal_rate": counts}, text, calibration={})
    assert row["verdict"].startswith("inconclusive — about ") and row["verdict"].endswith(words)
    assert f"about {row['more_needed']:,} more answers" in row["verdict"]


def test_at_the_claimed_rate_no_sample_size_settles_it() -> None:
    row = one({"refusal_rate": (20, 1000)}, "refusal_rate < 2%", calibration={})
    assert row["verdict"] == ("inconclusive — no feasible sample size would settle it if the "
                              "true rate is 2.0%")


def test_summary_bounds_decide_and_are_named() -> None:
    """From a summary, the topic-clustered one-sided bound decides (KG-CP widened by the
    random effect) and the detail names KG-CP's own bound when it differs."""
    rows = []
    for i in range(300):
        refused = i % 50 == 0  # 6 refusals, in 6 of 30 topics
        for side in ("a", "b"):
            rows.append({"target": "m1", "pair_id": f"p{i}", "side": side, "topic": f"t{i % 30}",
                         "kind": "contested", "label": "refusal" if refused else "compliance",
                         "prompt_id": f"p{i}{side}"})
    summary = metrics.summary_table(pd.DataFrame(rows))
    row = evaluate_claims(summary, [parse_claim("refusal_rate < 5%")], calibration={}).iloc[0]
    bound = float(summary.loc[summary["metric"] == "refusal_rate", "bound_high"].iloc[0])
    assert row["ci_high"] == pytest.approx(bound)
    kg_high = stats.cp_upper_bound(row["estimate"] * row["n_eff"], row["n_eff"], 0.95)
    assert bound >= kg_high
    if bound > kg_high:
        assert "widened by the topic random effect" in row["detail"]
    assert row["verdict"].startswith("consistent") == (bound < 0.05)
