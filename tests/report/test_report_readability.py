"""Issue 18, the report as a policy analyst reads it: one interval per headline card, every claim
on the headline chart, readable topic and lean views, rounded numbers, claims named in the
history, honest counts and the whole file list."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from audit.csvio import write_csv
from audit.report import _responses_view
from audit.report._charts import Interval, interval_plot
from audit.report._history import append_history, render_index
from audit.report._html import render_report
from tests.support.run_folders import make_run_folder


def _section(html: str, name: str) -> str:
    return html.split(f'<section id="{name}">', 1)[1].split("</section>", 1)[0]


def _edit(run_dir: Path, name: str, edit) -> None:  # type: ignore[no-untyped-def]
    df = pd.read_csv(run_dir / name, keep_default_na=False)
    write_csv(edit(df), run_dir / name)


def test_headline_card_has_one_interval_and_names_the_claims_basis(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    html = render_report(run_dir).read_text(encoding="utf-8")
    head = _section(html, "headline")
    assert "two-sided 95% interval" in head
    assert head.count("claim-basis") == 6  # 2 targets × 3 headline metrics, each with a claim
    assert "one-sided 95% bound, which is the end of a two-sided 90% interval" in head
    method = _section(html, "method")
    assert "Claims are judged by one-sided tests at the 5% level" in method
    assert "the upper end of a two-sided 90% interval" in method
    assert "If the whole interval lies below a claimed value" not in method


def test_headline_chart_marks_every_claim(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False, targets={"model-a": "acme"})

    def two_claims(claims: pd.DataFrame) -> pd.DataFrame:
        extra = claims[claims["metric"] == "refusal_rate"].assign(
            claim="refusal_rate < 2%", verdict="contradicts the claim")
        return pd.concat([claims, extra], ignore_index=True)

    _edit(run_dir, "claims.csv", two_claims)
    head = _section(render_report(run_dir).read_text(encoding="utf-8"), "headline")
    svg = head[head.index("<svg"):]
    assert "(claim ≈7%)" in svg and "(claim &lt;2%)" in svg  # both claims of refusal_rate
    assert svg.count('stroke="#b35900"') == 4  # one tick per claim: 2 + broad + asymmetric


def test_many_small_topics_show_flagged_topics_and_a_compact_table(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False, targets={"model-a": "acme"}, topics=100,
                              templates=1, samples=1, real_stats=True)
    topics = _section(render_report(run_dir).read_text(encoding="utf-8"), "topics")
    assert "100 topics with a median of" in topics
    assert "All 100 topics, highest estimate first" in topics
    # no chart row per topic: only flagged topics are drawn (the table lists them all)
    flagged = len(re.findall(r"<td class=\"fail\">★ yes</td>", topics))
    charted = len(re.findall(r"<title>★ topic \d+|<title>topic \d+", topics))
    assert charted == flagged * (charted > 0)
    assert topics.count("<td dir=\"auto\">topic ") >= 100


def test_few_large_topics_keep_the_forest_plot(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    topics = _section(render_report(run_dir).read_text(encoding="utf-8"), "topics")
    assert "highest estimate first" not in topics and "<svg" in topics


def test_difference_axis_stays_within_plus_minus_100_percent() -> None:
    svg = str(interval_plot([Interval("a", -0.9, -1.0, 0.1), Interval("b", 0.95, 0.2, 1.0)],
                            title="net direction", axis_label="pp"))
    ticks = [float(t) for t in re.findall(r">(-?\d+(?:\.\d+)?)%<", svg)]
    assert ticks and min(ticks) >= -100 and max(ticks) <= 100


def test_lean_chart_uses_the_table_counts(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False, targets={"model-a": "acme"},
                              real_stats=True)

    def fewer(summary: pd.DataFrame) -> pd.DataFrame:
        hit = summary["metric"] == "refusal_rate_lean_left"
        summary.loc[hit, ["k", "n"]] = [0, 49]
        return summary

    _edit(run_dir, "summary.csv", fewer)
    lean = _section(render_report(run_dir).read_text(encoding="utf-8"), "asymmetry")
    chart = lean[: lean.index("<table")]
    assert "0/49" in chart  # the chart's note shows the table's k of n
    assert re.search(r'<td class="num">0</td><td class="num">49</td>', lean)


def test_all_metrics_numbers_are_rounded(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False, real_stats=True)
    summary = pd.read_csv(run_dir / "summary.csv", keep_default_na=False)
    long = [v for v in summary["n_eff"].astype(str) if len(v) > 8]
    assert long
    table = _section(render_report(run_dir).read_text(encoding="utf-8"), "all-metrics")
    for value in long:
        assert value not in table
        assert f"<td>{float(value):,.0f}</td>" in table  # n_eff to the nearest whole unit
    assert not re.search(r"<td>-?\d+\.\d{5,}</td>", table)


def test_index_names_the_claim_of_each_verdict(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False, targets={"model-a": "acme"})

    def two_claims(claims: pd.DataFrame) -> pd.DataFrame:
        extra = claims[claims["metric"] == "refusal_rate"].assign(
            claim="refusal_rate < 2%", verdict="contradicts the claim")
        return pd.concat([claims, extra], ignore_index=True)

    _edit(run_dir, "claims.csv", two_claims)
    append_history(run_dir, tmp_path)
    index = render_index(tmp_path).read_text(encoding="utf-8")
    assert "refusal_rate &lt; 2%: contradicts the claim" in index
    assert re.search(r"Refuses about 7% of contested prompts: \w", index)
    assert not re.search(r"the claim \| ", index)


def test_controls_say_how_many_of_how_many_are_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False, targets={"model-a": "acme"})

    def wrong(resp: pd.DataFrame) -> pd.DataFrame:
        resp.loc[resp["kind"] == "control_refuse", "label"] = "compliance"
        return resp

    _edit(run_dir, "responses.csv", wrong)
    resp = pd.read_csv(run_dir / "responses.csv", keep_default_na=False)
    comply_wrong = (resp["kind"] == "control_comply") & resp["label"].isin(
        ["refusal", "partial_refusal"])
    total = int((resp["kind"] == "control_refuse").sum() + comply_wrong.sum())
    assert total > 2
    monkeypatch.setattr(_responses_view, "MAX_CONTROL_FAILURES", 2)
    controls = _section(render_report(run_dir).read_text(encoding="utf-8"), "controls")
    assert f"Controls handled wrongly (2 of {total} shown; all are in responses.csv)" in controls
    monkeypatch.setattr(_responses_view, "MAX_CONTROL_FAILURES", 10_000)
    controls = _section(render_report(run_dir).read_text(encoding="utf-8"), "controls")
    assert f"Controls handled wrongly (all {total} shown)" in controls


def test_files_lists_every_file_of_the_folder(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    (run_dir / "local-server.log").write_text("llama server log\n", encoding="utf-8")
    (run_dir / "judge.jsonl").write_text("{}\n", encoding="utf-8")
    files = _section(render_report(run_dir).read_text(encoding="utf-8"), "files")
    listed = re.findall(r'<li><a href="([^"]+)">', files)
    expected = {p.name for p in run_dir.iterdir() if p.is_file()} - {"report.html"}
    assert set(listed) == expected and "local-server.log" in listed
