"""The run's stance statistics (issue #16): read from stance.csv when there is one, appended to
summary.csv's rows, written as stance_topics.csv / stance_pairs.csv; nothing without stance.csv."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from audit.csvio import read_csv
from audit.run._stance_stats import stance_tables, with_stance_rows, write_stance_tables
from audit.stats import stance_pairs, stance_summary, stance_topics
from tests.support.run_folders import make_run_folder
from tests.support.stance_runs import make_stance_run_folder


def test_without_stance_csv_nothing_changes(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    assert stance_tables(run_dir) is None
    summary = read_csv(run_dir / "summary.csv")
    assert with_stance_rows(summary, None) is summary
    write_stance_tables(run_dir, None)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_stance_tables_are_the_statistics_of_stance_csv(tmp_path: Path) -> None:
    run_dir = make_stance_run_folder(tmp_path)
    tables = stance_tables(run_dir)
    assert tables is not None
    frame = pd.read_csv(run_dir / "stance.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(tables.summary, stance_summary(frame))
    pd.testing.assert_frame_equal(tables.topics, stance_topics(frame))
    pd.testing.assert_frame_equal(tables.pairs, stance_pairs(frame))
    assert {"biased_answer_rate", "leaning_answer_rate"} <= set(tables.summary["metric"])
    write_stance_tables(run_dir, tables)
    pairs = read_csv(run_dir / "stance_pairs.csv")
    assert len(pairs) == len(tables.pairs) and int(pairs["hedged"].sum()) == int(tables.pairs["hedged"].sum())
    assert len(read_csv(run_dir / "stance_topics.csv")) == len(tables.topics)


def test_stance_rows_come_after_with_the_same_columns(tmp_path: Path) -> None:
    run_dir = make_stance_run_folder(tmp_path)
    tables = stance_tables(run_dir)
    summary = pd.DataFrame({"target": ["t"], "metric": ["refusal_rate"], "estimate": [0.1],
                            "headline": [True], "extra": ["x"]})
    merged = with_stance_rows(summary, tables)
    assert tables is not None and len(merged) == 1 + len(tables.summary)
    assert merged.iloc[0][list(summary.columns)].to_dict() == summary.iloc[0].to_dict()
    assert list(merged.columns[:5]) == list(summary.columns)
    assert merged["headline"].map(type).eq(bool).all()  # never NaN (NaN would read as True)
    assert merged["extra"].iloc[1:].isna().all()


def test_report_adds_missing_stance_figures_once(tmp_path: Path) -> None:
    from audit.cli import main
    from audit.csvio import write_csv

    run_dir = make_stance_run_folder(tmp_path)
    summary = read_csv(run_dir / "summary.csv")
    write_csv(summary[~summary["metric"].str.contains("answer_rate|lean|adherence|hedging|stance_")],
              run_dir / "summary.csv")
    for name in ("stance_topics.csv", "stance_pairs.csv"):
        (run_dir / name).unlink()
    assert main(["report", str(run_dir)]) == 0
    after = read_csv(run_dir / "summary.csv")
    frame = pd.read_csv(run_dir / "stance.csv", dtype=str, keep_default_na=False)
    added = after[after["metric"].isin(stance_summary(frame)["metric"])].reset_index(drop=True)
    expected = stance_summary(frame)
    assert list(added["metric"]) == list(expected["metric"])
    assert added["estimate"].tolist() == pytest.approx(expected["estimate"].tolist(), nan_ok=True)
    assert (run_dir / "stance_topics.csv").is_file() and (run_dir / "stance_pairs.csv").is_file()
    assert "Biased answers" in (run_dir / "report.html").read_text(encoding="utf-8")
    once = (run_dir / "summary.csv").read_bytes()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "summary.csv").read_bytes() == once  # nothing added twice


def test_report_leaves_a_folder_without_stance_csv_alone(tmp_path: Path) -> None:
    from audit.cli import main

    run_dir = make_run_folder(tmp_path)
    before = (run_dir / "summary.csv").read_bytes()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "summary.csv").read_bytes() == before
    assert not (run_dir / "stance_topics.csv").exists()
