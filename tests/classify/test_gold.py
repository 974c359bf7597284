"""Gold sets: loading with precise errors, agreement statistics, the calibration file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, f1_score

from audit.classify import COMPLIANCE, PARTIAL, REFUSAL, make_classifier
from audit.classify._gold import (
    F1,
    Calibration,
    evaluate,
    load_calibration,
    load_gold,
    load_gold_files,
    normalise_label,
    score,
)
from audit.errors import InputError
from tests.support.gold_files import XSTEST_FILES, generic, needs_xstest, write


def test_generic_csv_loads_with_lines_and_aliases(tmp_path: Path) -> None:
    gold = load_gold(generic(tmp_path), "csv")
    assert gold["label"].tolist() == [COMPLIANCE, REFUSAL, PARTIAL]
    assert gold["line"].tolist() == [2, 3, 5]  # the second record spans lines 3-4
    assert set(gold["source"]) == {"gold.csv"}


@pytest.mark.parametrize("raw, label", [("1_full_compliance", COMPLIANCE),
                                        ("2_full_refusal", REFUSAL), ("3_partial_refusal", PARTIAL),
                                        ("Full-Refusal", REFUSAL), (" partial ", PARTIAL),
                                        ("maybe", None)])
def test_normalise_label(raw: str, label: str | None) -> None:
    assert normalise_label(raw) == label


def test_unknown_label_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", "prompt,response,label\np,r,compliance\np,\"a\nb\",sorta\n")
    with pytest.raises(InputError, match=r"bad\.csv:3: column 'label' has an unknown label 'sorta'"
                                         r" — use one of compliance, partial_refusal, refusal"):
        load_gold(path, "csv")


def test_empty_response_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", "prompt,response,label\np,r,compliance\np,,refusal\n")
    with pytest.raises(InputError, match=r"bad\.csv:3: column 'response' is empty"):
        load_gold(path, "csv")


def test_missing_column_suggests_the_other_format(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "id,prompt,completion,final_label\n1,p,r,2_full_refusal\n")
    with pytest.raises(InputError, match=r"x\.csv:1: no column 'response' .*try --format xstest"):
        load_gold(path, "csv")
    assert load_gold(path, "xstest")["label"].tolist() == [REFUSAL]


def test_file_problems_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_gold(tmp_path / "missing.csv", "csv")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"prompt,response,label\n\xe9t\xe9,r,refusal\n")
    with pytest.raises(InputError, match="not UTF-8"):
        load_gold(latin1, "csv")
    with pytest.raises(InputError, match="no rows"):
        load_gold(write(tmp_path / "e.csv", "prompt,response,label\n"), "csv")
    with pytest.raises(InputError, match="unknown gold format"):
        load_gold(generic(tmp_path), "jsonl")
    with pytest.raises(InputError, match="no gold file"):
        load_gold_files([], "csv")


def test_score_matches_hand_counts_and_sklearn() -> None:
    truth = [COMPLIANCE] * 6 + [PARTIAL] * 2 + [REFUSAL] * 4
    pred = [COMPLIANCE] * 5 + [REFUSAL] + [PARTIAL, COMPLIANCE] + [REFUSAL] * 3 + [PARTIAL]
    ev = score(truth, pred, "test")
    assert ev.n == 12
    assert ev.accuracy == pytest.approx(9 / 12)
    assert ev.binary_accuracy == pytest.approx(10 / 12)  # one FP, one missed partial
    assert (ev.sensitivity.k, ev.sensitivity.n) == (5, 6)
    assert (ev.specificity.k, ev.specificity.n) == (5, 6)
    assert (ev.false_positive_rate.k, ev.false_positive_rate.n) == (1, 6)
    assert ev.false_positive_rate.ci[0] < 1 / 6 < ev.false_positive_rate.ci[1]
    assert (ev.partial_recall.k, ev.partial_flagged.k) == (1, 1)
    assert ev.kappa.kappa == pytest.approx(cohen_kappa_score(truth, pred))
    assert ev.kappa_linear.kappa == pytest.approx(
        cohen_kappa_score(truth, pred, weights="linear", labels=[COMPLIANCE, PARTIAL, REFUSAL]))
    assert ev.kappa.low is not None and ev.kappa.low < ev.kappa.kappa < ev.kappa.high
    assert ev.confusion.loc[REFUSAL, PARTIAL] == 1
    assert ev.per_class[REFUSAL]["recall"] == pytest.approx(0.75)
    assert (ev.strict_sensitivity.k, ev.strict_sensitivity.n) == (3, 4)


def test_degenerate_scores_do_not_warn() -> None:
    ev = score([COMPLIANCE] * 3, [COMPLIANCE, "empty", COMPLIANCE])
    assert ev.kappa.kappa is None and ev.sensitivity.estimate is None
    assert ev.sensitivity.ci == (0.0, 1.0) and ev.other_predictions == 1
    with pytest.raises(ValueError):
        score([COMPLIANCE], [])


def test_calibration_file_round_trips(tmp_path: Path) -> None:
    gold = load_gold(generic(tmp_path), "csv")
    ev = evaluate(gold, make_classifier())
    path = ev.to_json(tmp_path / "cal.json")
    data = json.loads(path.read_text())
    assert {"sensitivity", "specificity", "n_pos", "n_neg", "tp", "tn"} <= set(data)
    assert (data["n_pos"], data["n_neg"], data["classifier"]) == (2, 1, "rules")
    assert data["strict"]["n_pos"] == 1
    assert load_calibration(path) == Calibration.model_validate(data)
    with pytest.raises(InputError, match="not a calibration file"):
        load_calibration(write(tmp_path / "x.json", "{}"))


@needs_xstest
def test_xstest_files_load_and_rules_meet_binary_targets() -> None:
    gold = load_gold_files(XSTEST_FILES, "xstest")
    assert len(gold) == 1350
    assert gold["label"].value_counts().to_dict() == {COMPLIANCE: 780, REFUSAL: 490, PARTIAL: 80}
    ev = evaluate(gold, make_classifier())
    assert ev.binary_accuracy >= 0.95 and ev.accuracy >= 0.85  # issue 15's targets
    assert ev.strict_sensitivity.estimate is not None and ev.strict_sensitivity.estimate >= 0.85
    assert ev.false_positive_rate.estimate is not None and ev.false_positive_rate.estimate <= 0.02


ISSUEBENCH = XSTEST_FILES[0].parents[1] / "issuebench" / "stance_dev.csv"


@pytest.mark.skipif(not ISSUEBENCH.exists(), reason="IssueBench stance_dev.csv not available")
def test_issuebench_file_loads_and_rules_meet_the_f1_target() -> None:
    gold = load_gold(ISSUEBENCH, "issuebench")
    raw = pd.read_csv(ISSUEBENCH)
    assert len(gold) == len(raw)
    assert (gold["label"] == REFUSAL).sum() == (raw["final_label"] == "refusal").sum()
    assert set(gold["label"]) == {COMPLIANCE, REFUSAL}
    f1 = evaluate(gold, make_classifier()).refusal_f1()
    assert f1.estimate is not None and f1.estimate >= 0.97


def test_issuebench_format_names_a_bad_label(tmp_path: Path) -> None:
    path = write(tmp_path / "ib.csv", "prompt_text,response_text,final_label\n"
                 "p,a,1 - only pro\np,a,7 - sideways\n")
    with pytest.raises(InputError, match=r"ib\.csv:3: .*unknown label '7 - sideways'"):
        load_gold(path, "issuebench")


def test_f1_matches_sklearn_and_its_ci_a_scipy_bootstrap() -> None:
    truth = [REFUSAL] * 20 + [PARTIAL] * 5 + [COMPLIANCE] * 55
    pred = ([REFUSAL] * 16 + [PARTIAL] * 2 + [COMPLIANCE] * 2 + [REFUSAL] * 3 + [COMPLIANCE] * 2
            + [REFUSAL] * 2 + [PARTIAL] * 1 + [COMPLIANCE] * 52)
    ev = score(truth, pred)
    strict, broad = ev.refusal_f1(strict=True), ev.refusal_f1(strict=False)
    y = [t == REFUSAL for t in truth]
    assert strict.estimate == pytest.approx(f1_score(y, [p == REFUSAL for p in pred]))
    assert broad.estimate == pytest.approx(
        f1_score([t != COMPLIANCE for t in truth], [p != COMPLIANCE for p in pred]))
    oracle = stats.bootstrap((y, [p == REFUSAL for p in pred]), f1_score, paired=True,
                             vectorized=False, method="percentile", n_resamples=2000,
                             random_state=1).confidence_interval
    assert strict.ci[0] == pytest.approx(oracle.low, abs=0.02)
    assert strict.ci[1] == pytest.approx(oracle.high, abs=0.02)


def test_f1_undefined_and_perfect() -> None:
    assert F1.of(0, 0, 0, 10).estimate is None
    perfect = F1.of(10, 0, 0, 10)
    assert perfect.estimate == 1.0 and perfect.ci == (1.0, 1.0)


def test_accuracy_rates_match_the_point_estimates_and_clopper_pearson() -> None:
    truth = [COMPLIANCE] * 6 + [PARTIAL] * 2 + [REFUSAL] * 4
    pred = [COMPLIANCE] * 5 + [REFUSAL] + [PARTIAL, COMPLIANCE] + [REFUSAL] * 3 + [PARTIAL]
    ev = score(truth, pred)
    assert (ev.accuracy_rate.k, ev.binary_rate.k) == (9, 10)
    exact = stats.binomtest(9, 12).proportion_ci(0.95, method="exact")
    assert ev.accuracy_rate.ci == pytest.approx((exact.low, exact.high))


def test_evaluate_uses_the_source_names(tmp_path: Path) -> None:
    a = generic(tmp_path)
    b = write(tmp_path / "other.csv", "prompt,response,label\np,ok,compliance\n")
    ev = evaluate(load_gold_files([a, b], "csv"), make_classifier())
    assert ev.gold == ("gold.csv", "other.csv") and ev.n == 4
    assert isinstance(ev.confusion, pd.DataFrame)
