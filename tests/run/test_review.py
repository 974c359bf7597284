"""Human labels in the library: the labelling hook (``HumanLabels``), the merge that makes applying
twice a no-op, and which pairs the review sheet flags."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audit.csvio import write_csv
from audit.run._human import HUMAN_COLUMNS, HUMAN_LABELS_CSV, HumanLabels
from audit.run._review import Answer, HumanLabel, merge_labels, review_frame
from tests.support.audits import answer, pair


def _human_file(run_dir: Path, rows: list[dict[str, str]]) -> None:
    frame = pd.DataFrame([{c: r.get(c, "") for c in HUMAN_COLUMNS} for r in rows], columns=HUMAN_COLUMNS)
    write_csv(frame, run_dir / HUMAN_LABELS_CSV)


def test_human_labels_override_answers_only_and_count_changes(tmp_path: Path) -> None:
    _human_file(tmp_path, [{"request_id": "p1a0", "human_label": "compliance", "reviewer": "ann"},
                           {"request_id": "p1b0", "human_label": "refusal"},
                           {"request_id": "p2a0", "human_label": "refusal"}])
    chunk = pd.DataFrame([*pair("m", "p1", "refusal", "refusal"), *pair("m", "p2", "error", "compliance")])
    chunk["confidence"] = [0.55, 0.95, 1.0, 0.9]
    chunk["evidence"] = ["pushback", "refusal opening", "API error", ""]
    human = HumanLabels.load(tmp_path)
    out = human.apply(chunk)
    assert out["label"].tolist() == ["compliance", "refusal", "error", "compliance"]
    assert out["confidence"].tolist() == [1.0, 1.0, 1.0, 0.9]
    assert out["evidence"][0] == "human review: compliance by ann (classifier: refusal 0.55; pushback)"
    assert chunk["label"].tolist() == ["refusal", "refusal", "error", "compliance"]  # the input is left alone
    assert (human.applied, human.changed) == (2, 1)  # the error keeps its label: not an answer
    assert HumanLabels.load(tmp_path / "nothing").apply(chunk) is chunk


def test_merge_keeps_a_stored_label_as_it_is() -> None:
    known = {"x": Answer("p.a", "refusal", "0.95", "m", "0"), "y": Answer("p.b", "compliance", "0.9", "m", "0")}
    first, updated = merge_labels(pd.DataFrame(columns=HUMAN_COLUMNS), {
        "x": HumanLabel("x", "compliance", "ann", "", "", 2)}, known, "review.csv")
    assert updated == 1 and first.loc[0, "classifier_label"] == "refusal" and first.loc[0, "reviewed_at"]
    again, updated = merge_labels(first, {"x": HumanLabel("x", "compliance", "bob", "", "", 2)}, known, "r2.csv")
    assert updated == 0 and again.equals(first)
    # a second review changes the label: the classifier's label is the one first recorded
    known_now = {**known, "x": Answer("p.a", "refusal", "0.95", "m", "0")}
    third, updated = merge_labels(first, {"x": HumanLabel("x", "partial_refusal", "bob", "t", "", 2),
                                          "y": HumanLabel("y", "compliance", "", "", "", 3)}, known_now, "r3.csv")
    assert updated == 2 and third["human_label"].tolist() == ["partial_refusal", "compliance"]
    assert third["classifier_label"].tolist() == ["refusal", "compliance"]


def _run_folder(tmp_path: Path) -> Path:
    rows = [*pair("m", "p1", "compliance", "refusal"), *pair("m", "p2", "compliance", "partial_refusal"),
            *pair("m", "p3", "compliance", "compliance"), *pair("m", "p4", "refusal", "refusal"),
            answer("m", "", "", "refusal", kind="control_refuse", prompt_id="c1")]
    frame = pd.DataFrame(rows)
    frame["confidence"] = [0.9, 0.95, 0.9, 0.65, 0.9, 0.69, 0.6, 0.95, 0.5]
    write_csv(frame, tmp_path / "responses.csv")
    pairs = pd.DataFrame({"target": "m", "pair_id": ["p1", "p2", "p3", "p4"], "sample": 0,
                          "asymmetric": [True, False, False, False]})
    write_csv(pairs, tmp_path / "pairs.csv")
    (tmp_path / "run.json").write_text(json.dumps({"run_id": "r1"}))
    return tmp_path


@pytest.mark.parametrize("below,expected", [
    (0.7, ["p1", "p4", "p2", "p3"]),  # asymmetric first, then the lowest confidence first
    (0.65, ["p1", "p4"]),  # "below": 0.65 itself is not near, nor 0.69
    (0.0, ["p1"]),
])
def test_review_flags_asymmetric_and_low_confidence_pairs(tmp_path: Path, below: float,
                                                          expected: list[str]) -> None:
    sheet = review_frame(_run_folder(tmp_path), below)
    assert sheet["pair_id"].tolist() == expected
    assert (sheet["run_id"] == "r1").all() and (sheet["human_label_a"] == "").all()


def test_reviewed_pairs_show_the_human_and_the_classifier_label(tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path)
    _human_file(run_dir, [{"request_id": "p3b0", "human_label": "refusal", "classifier_label": "compliance",
                           "classifier_confidence": "0.95"}])
    sheet = review_frame(run_dir, 0.0).set_index("pair_id")
    assert sheet.index.tolist() == ["p1", "p3"]
    assert sheet.loc["p3", ["flagged", "label_b", "human_label_b", "confidence_b"]].tolist() == [
        "reviewed", "compliance", "refusal", 0.95]
