"""The Stance section of report.html, the history/trend of the stance rates, the terminal lines
and the Prefect headline rows (issue #16), on synthetic run folders with and without stance.csv."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from audit.csvio import read_csv, truthy
from audit.report._console import stance_lines
from audit.report._history import append_history, render_index
from audit.report._html import render_report
from tests.support.run_folders import assert_self_contained, make_run_folder, parse_tags
from tests.support.stance_runs import make_stance_run_folder


def _section(html: str, name: str) -> str:
    return html.split(f'<section id="{name}">', 1)[1].split("</section>", 1)[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_stance_run_folder(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def html(run_dir: Path) -> str:
    return render_report(run_dir).read_text(encoding="utf-8")


def test_stance_section_renders_inert_and_self_contained(html: str) -> None:
    assert_self_contained(html)
    section = _section(html, "stance")
    assert section.count("<svg") == 3  # the distribution, and one topic plot per target
    assert "judge-&lt;i&gt;4o&lt;/i&gt;, template default" in section  # the judge's name, escaped
    assert "<i>" not in section and "<b>" not in section  # nor the claim's source
    assert "Vendor &lt;b&gt;blog&lt;/b&gt;" in section
    assert '<a href="#stance">Stance</a>' in html


def test_hostile_model_text_is_never_markup(html: str) -> None:
    tags = parse_tags(html)
    assert not [t for t, _ in tags.tags if t in ("img", "iframe")]
    assert not [a for _, a in tags.tags if any(k.startswith("on") for k in a)]
    hedged = _section(html, "pairs").split('id="hedged-pairs"', 1)[1]
    assert "&lt;script&gt;window.__pwned" in hedged  # hedged pairs' answers: shown, escaped
    assert "<script" not in hedged and "<img" not in hedged
    assert "\u202e" not in html and "[U+202E]" in hedged


def test_stance_figures_and_verdicts_are_shown(run_dir: Path, html: str) -> None:
    section = _section(html, "stance")
    summary = read_csv(run_dir / "summary.csv")
    biased = summary[(summary["target"] == "model-a") & (summary["metric"] == "biased_answer_rate")].iloc[0]
    assert f"{biased['estimate'] * 100:.1f}%" in section
    assert f"{int(biased['k'])} of {int(biased['n'])}" in section
    for name in ("Biased answers", "Leaning answers", "Lean direction", "Adherence gap", "Asymmetric hedging"):
        assert section.count(name) >= 2, name  # a card per target
    assert section.count("Claim: “Strong political lean in under 10% of answers”") == 2
    assert "Verdict: contradicts the claim" in section
    assert re.search(r"<strong>model-a</strong>: abortion \(\d+\.\d%, \d+ of \d+, q = [\d.e-]+\)", section)


def test_hedged_pairs_are_listed_and_marked(run_dir: Path, html: str) -> None:
    pairs = read_csv(run_dir / "stance_pairs.csv")
    n = int(pairs["hedged"].sum())
    listed = _section(html, "pairs").split('id="hedged-pairs"', 1)[1]
    assert f"Showing {n} of {n}" in listed
    assert listed.count("asymmetrically hedged</strong>") == n
    assert "adherence <strong>1</strong>" in listed
    anchors = re.findall(r'id="(hedged-topic-\d+)"', listed)
    assert anchors and all(f'href="#{a}"' in listed for a in anchors)
    assert len(set(re.findall(r'id="([^"]+)"', html))) == len(re.findall(r'id="([^"]+)"', html))


def test_without_stance_csv_one_sentence_says_how_to_add_a_judge(tmp_path: Path) -> None:
    html = render_report(make_run_folder(tmp_path)).read_text(encoding="utf-8")
    section = _section(html, "stance")
    assert "Stance was not judged in this run" in section and "[stance]" in section
    assert "<svg" not in section and "hedged-pairs" not in html


def test_history_and_trends_include_the_stance_rates(tmp_path: Path) -> None:
    first = make_stance_run_folder(tmp_path, run_id="run-1", finished_at="2025-03-01T10:00:00+00:00")
    make_stance_run_folder(tmp_path, run_id="run-2", seed=3, finished_at="2025-03-02T10:00:00+00:00")
    for run in ("run-1", "run-2"):
        append_history(tmp_path / run, tmp_path)
    history = pd.read_csv(tmp_path / "history.csv", keep_default_na=False)
    summary = read_csv(first / "summary.csv").set_index(["target", "metric"])
    for metric in ("biased_answer_rate", "leaning_answer_rate"):
        rows = history[history["metric"] == metric]
        assert len(rows) == 4  # 2 runs × 2 targets
        row = rows[(rows["run_id"] == "run-1") & (rows["target"] == "model-a")].iloc[0]
        assert row["estimate"] == pytest.approx(summary.loc[("model-a", metric), "estimate"])
        assert row["k"] == int(summary.loc[("model-a", metric), "k"])
    biased = history[(history["metric"] == "biased_answer_rate") & (history["run_id"] == "run-1")]
    assert set(biased["claim"]) == {"Strong political lean in under 10% of answers"}
    index = render_index(tmp_path).read_text(encoding="utf-8")
    assert "Biased answers (only one side: 1 or 5)" in index and "Leaning answers (1, 2, 4 or 5)" in index
    assert index.count("<svg") == 2 * 5  # per target: 3 refusal metrics + 2 stance rates


def test_history_of_a_run_without_stance_has_no_stance_rows(tmp_path: Path) -> None:
    append_history(make_run_folder(tmp_path), tmp_path)
    history = pd.read_csv(tmp_path / "history.csv", keep_default_na=False)
    assert not history["metric"].str.contains("answer_rate").any()


def test_console_lines_show_the_stance_rates(run_dir: Path, tmp_path: Path) -> None:
    lines = stance_lines(run_dir)
    summary = read_csv(run_dir / "summary.csv").set_index(["target", "metric"])
    row = summary.loc[("model-b", "leaning_answer_rate")]
    assert lines[0].startswith("stance of answers to neutral prompts")
    assert len(lines) == 3 and lines[2].startswith("  model-b: biased answers ")
    assert (f"leaning answers {row['estimate']:.1%} (95% CI {row['ci_low']:.1%} – {row['ci_high']:.1%}, "
            f"{int(row['k'])} of {int(row['n'])})") in lines[2]
    assert stance_lines(make_run_folder(tmp_path)) == []
    assert stance_lines(tmp_path / "nowhere") == []


def test_prefect_headline_rows_carry_the_stance_rates(run_dir: Path, tmp_path: Path) -> None:
    from audit_flows.artifacts import headline_rows, headline_table

    summary = read_csv(run_dir / "summary.csv")
    metrics = list(headline_rows(summary)["metric"])
    assert metrics.count("biased_answer_rate") == 2 and metrics.count("leaning_answer_rate") == 2
    assert metrics.count("refusal_rate") == 2 and "lean_direction" not in metrics
    table = headline_table(summary)
    assert any(r["metric"] == "biased_answer_rate" and r["estimate"].endswith("%") for r in table)
    plain = read_csv(make_run_folder(tmp_path) / "summary.csv")
    assert headline_rows(plain).equals(plain[plain["headline"].map(truthy)])  # unchanged
