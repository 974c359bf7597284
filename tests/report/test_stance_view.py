"""The Stance section's view data (issue #16), on a synthetic judged run folder
(tests/support/stance_runs.py): distribution, figures, leaning topics, hedged pairs."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from audit.csvio import read_csv
from audit.report import STANCE_METRICS, load_run, load_stance, stance_view
from audit.report._pairs_view import hedged_viewer, pair_viewer
from audit.report._stance_chart import Bar, stacked_bars
from audit.report._stance_view import HOW_TO_JUDGE, distribution, judges
from tests.support.run_folders import HOSTILE, make_run_folder
from tests.support.stance_runs import make_stance_run_folder

TARGETS = ["model-a", "model-b"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_stance_run_folder(tmp_path_factory.mktemp("stance"))


@pytest.fixture(scope="module")
def stance_csv(run_dir: Path) -> pd.DataFrame:
    return read_csv(run_dir / "stance.csv", dtype=str, keep_default_na=False)


def test_no_stance_csv_gives_only_the_sentence_on_adding_a_judge(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path)
    files = load_stance(run_dir)
    assert not files.judged and files.stance.empty
    view = stance_view(load_run(run_dir), TARGETS, files)
    assert view == {"judged": False, "how_to": HOW_TO_JUDGE}
    assert "[stance]" in HOW_TO_JUDGE and "audit.example.toml" in HOW_TO_JUDGE


def test_distribution_counts_every_ok_verdict_once(stance_csv: pd.DataFrame) -> None:
    bars = distribution(stance_csv, TARGETS)
    expected: Counter[tuple[str, str]] = Counter()
    for row in stance_csv.to_dict("records"):
        if row["judge_status"] != "ok":
            continue  # judge errors and unparsed replies are never a stance
        group = "neutral prompts" if row["kind"] == "neutral" else f"asked for side {row['side'].upper()}"
        expected[(f"{row['target']} · {group}", row["stance"])] += 1
    got = Counter({(b.label, k): v for b in bars for k, v in b.counts.items() if v})
    assert got == expected
    assert [b.label.split(" · ")[0] for b in bars] == ["model-a"] * 3 + ["model-b"] * 3


def test_figures_follow_summary_csv_in_the_contract_order(run_dir: Path) -> None:
    run = load_run(run_dir)
    view = stance_view(run, TARGETS, load_stance(run_dir))
    summary = read_csv(run_dir / "summary.csv")
    for block in view["figures"]:
        mine = summary[summary["target"] == block["target"]].set_index("metric")
        assert [m["metric"] for m in block["metrics"]] == [m for m in STANCE_METRICS if m in mine.index]
        for m in block["metrics"]:
            assert m["estimate"] == pytest.approx(mine.loc[m["metric"], "estimate"])
    gap = next(m for m in view["figures"][0]["metrics"] if m["metric"] == "adherence_gap")
    assert re.fullmatch(r"[+-]\d\.\d\d", gap["shown"]) and "%" not in gap["ci"]  # scale points, not %
    biased = view["figures"][0]["metrics"][0]
    assert biased["metric"] == "biased_answer_rate" and biased["shown"].endswith("%")
    assert [c["claim"] for c in biased["claims"]] == ["Strong political lean in under 10% of answers"]


def test_leaning_topics_are_the_bh_flagged_rows(run_dir: Path) -> None:
    run = load_run(run_dir)
    view = stance_view(run, TARGETS, load_stance(run_dir))
    topics = read_csv(run_dir / "stance_topics.csv")
    for block in view["topics"]:
        mine = topics[(topics["target"] == block["target"]) & topics["flagged"]]
        assert [r["topic"] for r in block["flagged"]] == list(mine["topic"])
        assert block["n_topics"] == int((topics["target"] == block["target"]).sum())
        assert "<svg" in block["svg"]
    assert [r["topic"] for r in view["topics"][0]["flagged"]] == ["abortion"]  # built to lean


def test_hedged_viewer_lists_every_hedged_pair_with_its_adherence(run_dir: Path) -> None:
    run = load_run(run_dir)
    pairs = load_stance(run_dir).pairs
    view = hedged_viewer(run, pairs)
    hedged = pairs[pairs["hedged"] == "True"]
    assert view["total"] == len(hedged) > 0
    shown = [p for g in view["groups"] for p in g["pairs"]]
    assert len(shown) == view["shown"] == len(hedged)
    truth = {(r["target"], r["pair_id"], r["sample"]): (r["adherence_a"], r["adherence_b"])
             for r in hedged.to_dict("records")}
    for p in shown:
        a, b = (s["adherence"] for s in p["sides"])
        assert p["hedged"]
        assert (float(a), float(b)) == tuple(float(x) for x in truth[(p["target"], p["pair_id"], str(p["sample"]))])
        assert min(float(a), float(b)) == 1 and max(float(a), float(b)) >= 3
        assert all(s["found"] for s in p["sides"])  # prompt ids joined from pairs.csv
    assert all(g["anchor"].startswith("hedged-topic-") for g in view["groups"])


def test_hedged_viewer_caps_and_asymmetric_viewer_marks_hedging(run_dir: Path) -> None:
    run = load_run(run_dir)
    pairs = load_stance(run_dir).pairs
    assert hedged_viewer(run, pairs, max_pairs=3)["shown"] == 3
    plain, marked = pair_viewer(run), pair_viewer(run, hedging=pairs)
    assert plain["total"] == marked["total"]
    sides = [s for g in plain["groups"] for p in g["pairs"] for s in p["sides"]]
    assert all(s["adherence"] == "" for s in sides)  # no stance_pairs: nothing claimed
    hedged = {(r["target"], r["pair_id"], r["sample"]) for r in pairs.to_dict("records") if r["hedged"] == "True"}
    for p in (p for g in marked["groups"] for p in g["pairs"]):
        assert p["hedged"] == ((p["target"], p["pair_id"], str(p["sample"])) in hedged)


def test_hedged_viewer_without_stance_pairs_is_empty(tmp_path: Path) -> None:
    run = load_run(make_run_folder(tmp_path))
    assert hedged_viewer(run, pd.DataFrame()) == {"groups": [], "total": 0, "shown": 0}


def test_stacked_bars_escape_labels_and_fill_the_width() -> None:
    svg = str(stacked_bars([Bar(HOSTILE, {"1": 3, "3": 1}), Bar("b", {"refusal": 2})], title="<t>"))
    assert "<script" not in svg and "<img" not in svg and "&lt;t&gt;" in svg
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="16"', svg)]
    assert widths[:2] == [390.0, 130.0] and widths[2] == 520.0  # 3:1 of the bar; a full bar
    assert "3 of 4 (75.0%)" in svg


def test_judges_are_named_once_each(stance_csv: pd.DataFrame) -> None:
    assert judges(stance_csv) == ["judge-<i>4o</i>, template default"]  # escaped by the template
    many = pd.DataFrame({"judge_model": [f"m{i}" for i in range(8)], "judge_template": [""] * 8})
    assert judges(many, limit=5) == ["m0", "m1", "m2", "m3", "m4", "and 3 more"]
