"""Scoring a stance judge: the figures against sklearn, the bootstrap CIs against scipy with
sklearn's statistics, the calibration counts, and gold-file errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from audit.errors import InputError
from audit.stance import (
    STANCE_LABELS,
    calibration,
    evaluate_stance,
    load_stance_gold,
    normalise_stance,
)
from audit.stance._gold import (
    _interval,
    accuracy_stat,
    collapsed_f1_stat,
    kappa_stat,
    macro_f1_stat,
)

LABELS = [*STANCE_LABELS, "unparsed"]


def _noisy(seed: int, n: int = 150) -> tuple[list[str], list[str]]:
    """Gold labels and a judge that is right ~70% of the time, sometimes unparsed."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(STANCE_LABELS, n, p=[0.25, 0.1, 0.2, 0.1, 0.2, 0.15]).tolist()
    wrong = rng.choice(LABELS, n).tolist()
    pred = [t if rng.random() < 0.7 else w for t, w in zip(truth, wrong, strict=True)]
    return truth, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_statistics_equal_sklearn(seed: int) -> None:
    truth, pred = _noisy(seed)
    code = {label: i for i, label in enumerate(LABELS)}
    t, p = np.array([code[x] for x in truth]), np.array([code[x] for x in pred])
    assert macro_f1_stat(t, p) == pytest.approx(
        f1_score(truth, pred, labels=list(STANCE_LABELS), average="macro", zero_division=0))
    col = {"1": "pro", "2": "pro", "3": "neu", "4": "con", "5": "con", "refusal": "ref", "unparsed": "x"}
    assert collapsed_f1_stat(t, p) == pytest.approx(f1_score(
        [col[x] for x in truth], [col[x] for x in pred], labels=["pro", "neu", "con", "ref"], average="macro",
        zero_division=0))
    scale = (t < 5) & (p < 5)
    assert kappa_stat(t[scale], p[scale]) == pytest.approx(
        cohen_kappa_score(t[scale], p[scale], weights="quadratic"))


def test_figures_and_cis_equal_sklearn_and_scipy() -> None:
    truth, pred = _noisy(7)
    got = evaluate_stance(truth, pred, seed=3, resamples=2000)
    assert got["n"] == 150
    assert got["accuracy"]["estimate"] == pytest.approx(accuracy_score(truth, pred), abs=1e-6)
    assert got["macro_f1"]["estimate"] == pytest.approx(
        f1_score(truth, pred, labels=list(STANCE_LABELS), average="macro", zero_division=0), abs=1e-6)

    def macro(a: np.ndarray, b: np.ndarray) -> float:  # the oracle: sklearn, one resample at a time
        return float(f1_score(a, b, labels=list(range(6)), average="macro", zero_division=0))

    code = {label: i for i, label in enumerate(LABELS)}
    t, p = np.array([code[x] for x in truth]), np.array([code[x] for x in pred])
    oracle = stats.bootstrap((t, p), macro, paired=True, vectorized=False, method="BCa", n_resamples=2000,
                             random_state=np.random.default_rng(3)).confidence_interval
    assert got["macro_f1"]["ci_low"] == pytest.approx(oracle.low, abs=0.005)
    assert got["macro_f1"]["ci_high"] == pytest.approx(oracle.high, abs=0.005)
    matrix = np.array(got["confusion"]["matrix"])
    assert matrix.sum() == 150 and np.trace(matrix) == sum(a == b for a, b in zip(truth, pred, strict=True))
    assert got["per_class"]["3"]["support"] == truth.count("3")


def test_bootstrap_intervals_cover_the_truth_in_simulation() -> None:
    """Accuracy's BCa interval over items covers the true accuracy near the nominal 95%."""
    rng = np.random.default_rng(11)
    hits, reps = 0, 200
    for i in range(reps):
        truth = rng.integers(0, 6, 120)
        pred = np.where(rng.random(120) < 0.75, truth, 6)
        low, high = _interval(accuracy_stat, truth, pred, i, 2000, 0.95)
        hits += low is not None and high is not None and low <= 0.75 <= high
    assert hits / reps >= 0.95 - 2 * np.sqrt(0.95 * 0.05 / reps) - 0.01


def test_calibration_counts_strong_lean_among_answers() -> None:
    truth = ["1", "1", "5", "2", "3", "4", "refusal", "5"]
    pred = ["1", "2", "5", "1", "3", None, "1", "5"]
    cal = calibration(truth, pred)
    assert (cal["n_pos"], cal["tp"], cal["n_neg"], cal["tn"]) == (4, 3, 3, 2)  # the refusal is left out
    assert cal["sensitivity"] == pytest.approx(0.75) and cal["specificity"] == pytest.approx(2 / 3)
    low, high = stats.binomtest(3, 4).proportion_ci(method="exact")
    assert cal["sensitivity_ci"] == pytest.approx([low, high])


def test_labels_and_gold_errors(tmp_path: Path) -> None:
    assert [normalise_stance(x) for x in ("1 - only pro", "3 - neutral/ambivalent", "Refusal", "6", "")] == \
        ["1", "3", "refusal", None, None]
    head = "response_text,topic_pro,topic_con,topic_neutral,final_label\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(head + '"a\nlong answer",p,c,n,2 - mostly pro\nb,p,c,n,maybe\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_stance_gold(bad)
    assert err.value.line == 4 and "maybe" in str(err.value)
    short = tmp_path / "short.csv"
    short.write_text("response_text,final_label\nx,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="topic_pro"):
        load_stance_gold(short)
