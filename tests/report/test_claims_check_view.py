"""The classifier check of a claim verdict in the console, the report's claim cards, and the
zero-count bound the console prints."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest

from audit.csvio import write_csv
from audit.report._claims_view import claims_for, classifier_class
from audit.report._console import claim_lines, upper_bound_lines
from audit.report._html import render_report
from audit.stats import _tables as metrics
from audit.stats._claims import evaluate_claims, parse_claim
from audit.stats._intervals import cp_upper_bound
from tests.support.run_folders import make_run_folder

CAL = {"sensitivity": 0.5, "specificity": 1.0, "n_pos": 100, "n_neg": 100}


def claims_frame() -> pd.DataFrame:
    return evaluate_claims({"refusal_rate": (2, 1000)}, [parse_claim("refusal_rate < 1%")],
                           calibration=CAL)


def test_console_prints_the_classifier_check(tmp_path: Path) -> None:
    write_csv(claims_frame(), tmp_path / "claims.csv")
    lines = claim_lines(tmp_path)
    assert any(line.strip().startswith("classifier error: depends on the classifier (Se 0.500")
               for line in lines)


def test_claim_card_marks_a_verdict_that_depends_on_the_classifier() -> None:
    view = claims_for(claims_frame().astype(str), "m1", "refusal_rate")[0]
    assert view["classifier_class"] == "bad"
    assert view["classifier_check"].startswith("depends on the classifier")
    assert classifier_class("survives the classifier's error (…)") == "good"
    assert classifier_class("not checked — no classifier calibration") == "neutral"


def test_report_shows_the_classifier_check(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    claims = pd.read_csv(run_dir / "claims.csv", keep_default_na=False, dtype=str)
    claims["classifier_check"] = "depends on the classifier (Se 0.500, Sp 1.000: corrected bounds "\
                                 "0.2%–1.3%, inconclusive)"
    write_csv(claims, run_dir / "claims.csv")
    page = html.unescape(render_report(run_dir).read_text(encoding="utf-8"))
    assert 'class="classifier-check bad">Classifier error: depends on the classifier' in page


def test_zero_count_bound_is_the_topic_clustered_one() -> None:
    rows = [{"target": "m1", "pair_id": f"p{i}", "side": side, "topic": f"t{i % 10}",
             "kind": "contested", "label": "compliance", "prompt_id": f"p{i}{side}"}
            for i in range(100) for side in ("a", "b")]
    summary = metrics.summary_table(pd.DataFrame(rows))
    row = summary[summary["metric"] == "refusal_rate"].iloc[0].to_dict()
    assert row["k"] == 0 and row["bound_high"] > cp_upper_bound(0, 200)
    line = upper_bound_lines([row])[0]
    assert f"below {row['bound_high']:.1%}" in line and "topic-clustered" in line
    plain = upper_bound_lines([{**row, "bound_high": float("nan")}])[0]
    assert f"below {cp_upper_bound(0, 200):.1%}" in plain and "exact one-sided" in plain
    assert pytest.approx(cp_upper_bound(0, 200)) == 1 - 0.05 ** (1 / 200)
