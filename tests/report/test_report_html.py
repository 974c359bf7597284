"""report.html: rendered from a run folder alone, self-contained, and inert to hostile answers.

``make_run_folder`` (below) writes a realistic run folder without the rest of the pipeline:
two targets, several topics × templates × leans, samples, a few asymmetric pairs, controls,
error / blocked / empty / truncated rows, claims, and hostile model answers. The history and
browser tests and ``bench/report_speed.py`` import it from here.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.cli import main
from audit.csvio import write_csv
from audit.errors import InputError
from audit.report import endpoint_host, load_run, scrub, verdict_words
from audit.report._html import render_report
from tests.support.run_folders import (
    SECRET_URL,
    assert_self_contained,
    make_run_folder,
    parse_tags,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def html(run_dir: Path) -> str:
    return render_report(run_dir).read_text(encoding="utf-8")


def test_render_writes_one_self_contained_file(run_dir: Path, html: str) -> None:
    assert (run_dir / "report.html").is_file()
    assert not list(run_dir.glob("*.tmp"))
    assert_self_contained(html)
    assert html.count("<svg") >= 8


def test_header_shows_identity_but_no_secret(html: str) -> None:
    assert "api.example.com:8443" in html and "127.0.0.1:8000" in html
    for secret in ("hunter2", "alice", "sk-abcdef", "sk-never", "sk-livekey", "/v1", "Bearer sk"):
        assert secret not in html, secret
    assert "ab" * 32 in html and "contested-v1" in html
    assert "rules (accuracy not measured for this run)" in html  # no calibration configured
    assert "2025-03-01T10:30:00+00:00" in html


def test_hostile_answers_are_escaped_text(html: str) -> None:
    assert "<script>window.__pwned" not in html
    assert "&lt;script&gt;window.__pwned" in html
    assert "&lt;img src=x onerror=" in html
    assert 'href="javascript' not in html.lower()
    assert "&lt;b&gt;bold-model&lt;/b&gt;" in html  # model names are data too
    tags = parse_tags(html).tags
    assert not any(t == "a" and (a.get("href") or "").startswith("javascript") for t, a in tags)


def test_bidi_overrides_are_visible_markers_in_isolated_elements(html: str) -> None:
    # a right-to-left override in an answer or an error message would show it (and what follows
    # it on the line) reversed: it is replaced by a visible marker, and model text is isolated
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", html)
    shown = "[U+202E]txet desrever[U+202C] and [U+2067]isolated[U+2069]"
    assert shown in html and "429 Too Many Requests " + shown in html
    tags = parse_tags(html).tags
    texts = [a for t, a in tags if t == "div" and "text" in (a.get("class") or "").split()]
    assert texts and all(a.get("dir") == "auto" for a in texts)
    assert '[dir="auto"] { unicode-bidi: isolate; }' in html


def test_headline_has_claims_with_verdicts_in_words(html: str) -> None:
    for text in (
        "Refusal rate (strict)",
        "Refusal rate (broad: incl. partial)",
        "Asymmetric refusal rate (pairs)",
        "Refuses about 7% of contested prompts",
        "Asymmetric refusals &lt; 1%",
        "claim ≈7%",
        "claim &lt;1%",
        "claim &lt;2%",
    ):
        assert text in html, text
    assert re.search(
        r"Verdict: (consistent with the claim|contradicts the claim|inconclusive — 120 more)", html
    )


@pytest.mark.parametrize(
    ("verdict", "css", "words"),
    [
        ("consistent with the claim", "good", "consistent with the claim"),
        ("contradicts the claim", "bad", "contradicts the claim"),
        (
            "inconclusive — 77 more answers would be needed",
            "neutral",
            "inconclusive — 77 more answers",
        ),
        ("not evaluated — no data for this metric", "neutral", "not evaluated"),
        ("supported", "good", "supported — this run agrees with the claim"),
        ("Contradicted", "bad", "contradicted — this run disagrees"),
        ("inconclusive", "neutral", "the interval is too wide"),
        ("", "neutral", "no verdict recorded"),
        ("something new", "neutral", "something new"),
    ],
)
def test_verdicts_in_words(verdict: str, css: str, words: str) -> None:
    got_css, got_words = verdict_words(verdict)
    assert got_css == css and words in got_words


def test_sections_present(html: str) -> None:
    for anchor in (
        "headline",
        "controls",
        "topics",
        "asymmetry",
        "categories",
        "pairs",
        "non-answers",
        "all-metrics",
        "method",
        "files",
    ):
        assert f'id="{anchor}"' in html
    assert "Clustered vs Wilson" in html
    assert (
        "by topic" in html and "by template" in html and "by lean" in html and "by category" in html
    )


def test_topic_forest_flags_the_skewed_topic(html: str) -> None:
    assert "★ gun control" in html


def test_controls_and_non_answers_are_counted_apart(run_dir: Path, html: str) -> None:
    responses = pd.read_csv(run_dir / "responses.csv", keep_default_na=False)
    mine = responses[responses["target"] == "model-a"]
    errors = int((mine["label"] == "error").sum())
    assert re.search(
        rf"<td>model-a</td><td class=\"num\">{len(mine)}</td><td class=\"num\">{errors}</td>", html
    )
    assert "refuse-controls (should refuse)" in html and "comply-controls (should answer)" in html
    assert "Controls handled wrongly" in html
    assert "APIConnectionError" in html and "***@" not in html.split("APIConnectionError")[0][-10:]


def test_pairs_viewer_groups_by_topic_with_both_sides(run_dir: Path, html: str) -> None:
    pairs = pd.read_csv(run_dir / "pairs.csv", keep_default_na=False)
    total = int(pairs["asymmetric"].astype(str).str.lower().eq("true").sum())
    assert f"Showing {total} of {total} asymmetric pairs" in html
    assert '<details class="topic" id="topic-1" open>' in html
    assert '<a href="#topic-1">' in html
    assert html.count('class="sides"') == total
    assert "Write a " in html  # prompts are joined from responses.csv


def test_pairs_are_capped_with_a_link_to_the_csv(run_dir: Path) -> None:
    html = render_report(run_dir, max_pairs=3).read_text(encoding="utf-8")
    assert re.search(r"Showing 3 of \d+ asymmetric pairs", html)
    assert '<a href="pairs.csv">pairs.csv</a>' in html
    assert html.count('class="sides"') == 3
    render_report(run_dir)


def test_rerender_is_deterministic(run_dir: Path, html: str) -> None:
    assert render_report(run_dir).read_text(encoding="utf-8") == html


def test_optional_files_and_metrics_may_be_missing(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    for name in ("responses.csv", "pairs.csv", "topics.csv", "claims.csv"):
        (run_dir / name).unlink()
    summary = pd.read_csv(run_dir / "summary.csv")
    summary = summary[summary["metric"] != "asymmetric_refusal_rate"].assign(extra_column="x")
    write_csv(summary, run_dir / "summary.csv")
    (run_dir / "run.json").write_text("{}", encoding="utf-8")
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "Not in this run folder: responses.csv, pairs.csv, topics.csv, claims.csv" in html
    assert "not in summary.csv for this target" in html
    assert "No published claims were checked" in html and "extra_column" in html
    assert "model-a" in html  # targets come from summary.csv when run.json has none


def test_unknown_metrics_and_numbers_render(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    summary = pd.read_csv(run_dir / "summary.csv")
    extra = pd.DataFrame(
        [
            {
                "target": "model-a",
                "metric": "design_effect",
                "estimate": 2.7,
                "ci_low": "",
                "ci_high": "",
                "k": "",
                "n": "",
                "method": "",
                "headline": True,
            }
        ]
    )
    write_csv(pd.concat([summary, extra]), run_dir / "summary.csv")
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert "2.70" in html and "design effect" in html


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d.joinpath("summary.csv").unlink(), "summary.csv: missing"),
        (
            lambda d: d.joinpath("run.json").write_text("{\n  bad", encoding="utf-8"),
            "run.json:2: not valid JSON",
        ),
        (
            lambda d: d.joinpath("summary.csv").write_text("a,b\n1,2\n", encoding="utf-8"),
            "missing column(s)",
        ),
        (lambda d: d.joinpath("run.json").write_text("[]", encoding="utf-8"), "JSON object"),
    ],
)
def test_invalid_run_folder_raises_input_error(tmp_path: Path, setup: Any, message: str) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    setup(run_dir)
    with pytest.raises(InputError, match=re.escape(message)):
        load_run(run_dir)


def test_missing_folder_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such run folder"):
        render_report(tmp_path / "nope")


def test_endpoint_host_and_scrub() -> None:
    assert endpoint_host(SECRET_URL) == "api.example.com:8443"
    assert endpoint_host("127.0.0.1:8000/v1") == "127.0.0.1:8000"
    assert endpoint_host("") == ""
    text = scrub(f"failed {SECRET_URL} Bearer sk-live123456789 token=abc")
    assert (
        "hunter2" not in text
        and "sk-live" not in text
        and "abc" not in text
        and "SECRET" not in text
    )


def test_cli_report_renders(run_dir: Path) -> None:
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").is_file()


def test_cli_report_missing_folder_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such run folder" in err and "Traceback" not in err


def test_cli_report_needs_a_folder_or_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 2
    assert "RUN_DIR" in capsys.readouterr().err


def test_templates_ship_as_package_data() -> None:
    from importlib import resources

    names = {p.name for p in resources.files("audit.report").joinpath("templates").iterdir()}
    assert {"base.html.j2", "report.html.j2", "index.html.j2"} <= names


def test_report_from_the_statistics_module_tables(tmp_path: Path) -> None:
    # samples of a pair are clustered (one pair, one vote): a topic needs enough leaning pairs
    run_dir = make_run_folder(tmp_path, real_stats=True, templates=12)
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "Net direction" in html and " pp" in html  # a headline difference, in percentage points
    assert "★ gun control" in html  # flags from the module's BH correction
    assert "by template" in html and "refusal rate lean right" in html
    assert "not in summary.csv for this target" not in html


def test_empty_claims_file_means_no_claims(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    (run_dir / "claims.csv").write_text("\n", encoding="utf-8")
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert "No published claims were checked" in html and "Verdict:" not in html


def test_drift_and_comparison_tables_are_shown_when_present(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    drift = pd.DataFrame(
        [
            {
                "target": "model-a",
                "metric": "refusal_rate",
                "before": 0.05,
                "now": 0.0812345,
                "detail": "<i>x</i>",
            }
        ]
    )
    write_csv(drift, run_dir / "drift.csv")
    write_csv(
        pd.DataFrame([{"metric": "refusal_rate", "difference": -0.01}]), run_dir / "comparison.csv"
    )
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert 'id="drift"' in html and "Drift since the previous run" in html
    assert "<td>5.0%</td>" in html.replace(' class="num"', "") and "8.1%" in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html and "<i>x</i>" not in html
    assert "Comparison (comparison.csv)" in html
    assert "Not in this run folder" not in html


def test_public_api() -> None:
    import audit.report

    assert set(audit.report.__all__) >= {
        "ANSWER_LABELS", "HEADLINE_METRICS", "MAX_PAIRS", "NON_ANSWER_LABELS", "REPORT_NAME", "RunFolder",
        "claim_reference", "content_security_policy", "endpoint_host", "header", "headline", "load_run",
        "metric_name", "num", "read_table", "render_page", "render_report", "report_context", "scrub",
        "verdict_words",
        "HISTORY_COLUMNS", "HISTORY_NAME", "INDEX_NAME", "append_history", "history_rows", "read_history",
        "render_index",
        "Interval", "RefLine", "TrendPoint", "fmt_value", "interval_plot", "nice_ticks", "trend_plot",
    }  # fmt: skip
    assert all(hasattr(audit.report, name) for name in audit.report.__all__)


# ---------------------------------------------------------------- charts


def test_charts_escape_text_and_carry_no_ids_or_links() -> None:
    from audit.report._charts import Interval, RefLine, interval_plot

    hostile = '<script>alert(1)</script>" onload="x'
    svg = interval_plot(
        [Interval(hostile, 0.5, 0.4, 0.9, flagged=True, reference=0.07, reference_label=hostile)],
        title=hostile,
        axis_label=hostile,
        refs=[RefLine(0.1, hostile)],
        legend=hostile,
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and '" onload="x' not in svg
    assert " id=" not in svg and "href" not in svg and "xmlns" not in svg


def test_trend_plot_with_one_point_and_no_interval() -> None:
    from datetime import UTC, datetime

    from audit.report._charts import TrendPoint, trend_plot

    svg = trend_plot(
        [TrendPoint(datetime(2025, 1, 1, tzinfo=UTC), 0.03)], title="t", axis_label="rate (%)"
    )
    assert "<circle" in svg and "<polygon" not in svg and "2025-01-01" in svg


@given(
    low=st.floats(-1, 1, allow_nan=False),
    width=st.floats(1e-6, 2, allow_nan=False),
)
def test_nice_ticks_cover_the_range(low: float, width: float) -> None:
    from audit.report._charts import nice_ticks

    ticks = nice_ticks(low, low + width)
    assert ticks[0] <= low + 1e-9 and ticks[-1] >= low + width - 1e-9
    assert 2 <= len(ticks) <= 12 and ticks == sorted(ticks)


# ---------------------------------------------------------------- status, drift, classifier, bounds


def _edit_run_json(run_dir: Path, **updates: Any) -> None:
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    for key, value in updates.items():
        if key == "config":
            meta["config"].update(value)
        else:
            meta[key] = value
    (run_dir / "run.json").write_text(json.dumps(meta), encoding="utf-8")


def _text(html: str) -> str:
    """The page's visible text: tags dropped, entities decoded, whitespace collapsed."""
    from html import unescape

    body = html.split("</style>", 1)[-1].split("<script>", 1)[0]
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def test_completed_run_shows_its_status_without_a_failure_banner(html: str) -> None:
    assert re.search(r'<dt>Status</dt><dd class="ok">completed</dd>', html)
    assert 'class="banner' not in html and "failed:" not in html
    assert 'id="drift"' not in html  # no drift in run.json and no drift.csv


def test_failed_thresholds_run_is_marked_prominently(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    breach = "model-a: refusal_rate 7.00% (CI low 5.10%) exceeds max_refusal_rate = 0.02 <b>"
    _edit_run_json(run_dir, status="failed_thresholds", breaches=[breach])
    html = render_report(run_dir).read_text(encoding="utf-8")
    banner = re.search(r'<div class="banner fail" role="alert">(.*?)</div>', html)
    assert banner and "Run failed: thresholds breached" in banner.group(1)
    assert "1 threshold breach" in banner.group(1)
    assert '<dt>Status</dt><dd class="fail">failed: thresholds breached</dd>' in html
    assert "exceeds max_refusal_rate = 0.02 &lt;b&gt;" in html and "0.02 <b>" not in html


def test_drift_alerts_notes_and_table_are_shown(tmp_path: Path) -> None:
    from audit.stats._drift import DRIFT_COLUMNS

    run_dir = make_run_folder(tmp_path, hostile=False)
    alert = (
        "drift: model-a: refusal_rate rose from 5.0% to 8.0% on 120 shared contested prompts "
        "since run run-2025-02-01 — durkalski p = 0.001 (Holm 0.003 < 0.05; 6 newly refused, "
        "2 no longer) <script>x</script>"
    )
    note = "model-b: no previous run of this target on this prompt set — nothing to compare"
    _edit_run_json(
        run_dir,
        status="failed_drift",
        drift={"alerts": [alert], "notes": ["model-a: compared with run run-2025-02-01", note]},
    )
    row = dict.fromkeys(DRIFT_COLUMNS, "")
    row.update(
        target="model-a",
        metric="refusal_rate",
        previous_run="run-2025-02-01",
        previous_model="acme-chat-7b",
        model="acme-chat-7b",
        design="paired",
        unit="contested prompts",
        n_shared=120,
        before=0.05,
        now=0.08,
        change=0.03,
        ci_low=0.012,
        ci_high=0.048,
        b=2,
        c=6,
        test="durkalski",
        p_value=0.001,
        p_holm=0.003,
        significant=True,
        limit=math.nan,
        breach=False,
        detail="significant change",
    )
    write_csv(pd.DataFrame([row], columns=DRIFT_COLUMNS), run_dir / "drift.csv")
    html = render_report(run_dir).read_text(encoding="utf-8")
    text = _text(html)
    assert "Run failed: drift since the previous run" in text and "1 drift alert" in text
    assert '<a href="#drift">Drift</a>' in html
    section = html.split('<section id="drift">', 1)[1].split("</section>", 1)[0]
    assert "rose from 5.0% to 8.0%" in section and "&lt;script&gt;x&lt;/script&gt;" in section
    assert "<script>x" not in html
    assert note in section and "compared with run run-2025-02-01" in section
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "|", section))
    for expected in (
        "paired on 120 contested prompts",
        "|5.0%|",
        "|8.0%|",
        "|+3.0 pp|",
        "+1.2 pp to +4.8 pp",
        "|0.003|",
        "significant change",
    ):
        assert expected in cells, expected
    assert_self_contained(html)


def test_drift_without_a_previous_run_says_so(tmp_path: Path) -> None:
    from audit.stats._drift import DRIFT_COLUMNS

    run_dir = make_run_folder(tmp_path, hostile=False)
    note = "model-a: no previous run of this target on this prompt set — nothing to compare"
    _edit_run_json(run_dir, drift={"alerts": [], "notes": [note]})
    write_csv(pd.DataFrame(columns=DRIFT_COLUMNS), run_dir / "drift.csv")
    html = render_report(run_dir).read_text(encoding="utf-8")
    section = html.split('<section id="drift">', 1)[1].split("</section>", 1)[0]
    assert "No drift alert." in section and note in section and "drift.csv is empty" in section
    assert 'class="banner' not in html


def _calibration(path: Path) -> Path:
    """A calibration file written by the real writer (classifier evaluate --save-calibration)."""
    from audit.classify._gold import score

    truth = ["refusal"] * 40 + ["compliance"] * 60
    predicted = ["refusal"] * 36 + ["compliance"] * 4 + ["compliance"] * 57 + ["refusal"] * 3
    path.parent.mkdir(parents=True, exist_ok=True)
    return score(truth, predicted, "rules", ("gold/xstest.csv",)).to_json(path)


def test_classifier_calibration_file_is_shown(tmp_path: Path) -> None:
    cal = _calibration(tmp_path / "cal" / "rules.json")
    run_dir = make_run_folder(tmp_path / "reports", hostile=False)
    _edit_run_json(run_dir, config={"calibration": str(cal)})
    text = _text(render_report(run_dir).read_text(encoding="utf-8"))
    classifier = text.split("Classifier", 1)[1].split("Status", 1)[0]
    assert "rules — measured on a human-labelled gold set" in classifier
    assert "sensitivity 90.0% (95% CI" in classifier and "36 of 40" in classifier
    assert "specificity 95.0% (95% CI" in classifier and "57 of 60" in classifier
    assert "gold set n = 100 (40 refusals, 60 non-refusals), xstest.csv" in classifier
    assert "accuracy not measured" not in classifier


def test_relative_calibration_path_is_found_from_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _calibration(tmp_path / "project" / "cal" / "rules.json")
    run_dir = make_run_folder(tmp_path / "project" / "reports", hostile=False)
    _edit_run_json(run_dir, config={"calibration": "cal/rules.json", "classifier": "ensemble"})
    monkeypatch.chdir(tmp_path)  # not the project: the config's relative path does not resolve here
    text = _text(render_report(run_dir).read_text(encoding="utf-8"))
    assert "sensitivity 90.0%" in text
    assert "measured for the rules classifier, not this run's ensemble" in text


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "calibration file not found: "), ("{not json", "calibration file unreadable: ")],
)
def test_a_moved_or_broken_calibration_file_does_not_crash(
    tmp_path: Path, content: str | None, words: str
) -> None:
    cal = tmp_path / "gone" / "cal.json"
    if content is not None:
        cal.parent.mkdir()
        cal.write_text(content, encoding="utf-8")
    run_dir = make_run_folder(tmp_path, hostile=False)
    _edit_run_json(run_dir, config={"calibration": str(cal)})
    text = _text(render_report(run_dir).read_text(encoding="utf-8"))
    assert f"rules (accuracy not measured for this run: {words}{cal})" in text


def test_upper_bound_sentence_matches_the_closed_form() -> None:
    from audit.report import upper_bound_sentence

    assert (
        upper_bound_sentence(0, 400)
        == "0 of 400: below 0.75% with 95% confidence (exact one-sided bound)"
    )
    for n in (1, 3, 10, 59, 400, 1234, 100_000):
        bound = 1 - 0.05 ** (1 / n)  # scipy.stats.beta.ppf(0.95, 1, n)
        sentence = upper_bound_sentence("0", str(n))
        shown = float(re.search(r"below ([\d.]+)%", sentence).group(1)) / 100
        assert bound <= shown <= bound * 1.1 + 1e-12, (n, sentence)  # rounded up, 2 digits
        assert f"0 of {n:,}:" in sentence
    assert upper_bound_sentence(1, 400) == "" and upper_bound_sentence(0, 0) == ""
    assert upper_bound_sentence("", "") == ""


def test_zero_refusals_give_the_upper_bound_in_the_headline(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    summary = pd.read_csv(run_dir / "summary.csv", keep_default_na=False)
    hit = (summary["target"] == "model-a") & (summary["metric"] == "refusal_rate")
    summary.loc[hit, ["estimate", "ci_low", "ci_high", "k", "n"]] = [0.0, 0.0, 0.0092, 0, 400]
    write_csv(summary, run_dir / "summary.csv")
    # with a claim on the metric the card has one interval, and the claims their one-sided bound
    # (issue 18); without one, the zero-count bound is the card's only bound
    html = render_report(run_dir).read_text(encoding="utf-8")
    sentence = "0 of 400: below 0.75% with 95% confidence (exact one-sided bound)"
    assert sentence not in html
    claims = pd.read_csv(run_dir / "claims.csv", keep_default_na=False)
    write_csv(claims[claims["metric"] != "refusal_rate"], run_dir / "claims.csv")
    html = render_report(run_dir).read_text(encoding="utf-8")
    assert html.count(sentence) == 1
    headline_part = html.split('<section id="headline">', 1)[1].split("</section>", 1)[0]
    assert sentence in headline_part


def test_classified_truncated_answers_change_header_and_method(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    responses = pd.read_csv(run_dir / "responses.csv", keep_default_na=False)
    cut = responses.index[responses["label"] == "compliance"][:7]
    responses.loc[cut, ["finish_reason", "truncated"]] = ["length", True]
    responses.loc[responses["label"] == "truncated", "label"] = "refusal"  # prefix classified
    write_csv(responses, run_dir / "responses.csv")
    n = int(responses["truncated"].astype(str).str.lower().eq("true").sum())
    assert n >= 7
    _edit_run_json(run_dir, config={"classify_truncated": True})
    text = _text(render_report(run_dir).read_text(encoding="utf-8"))
    assert (
        f"{n} answer(s) cut at max_tokens (512) were classified on their prefix "
        f"( classify_truncated = true ): {n} got an answer label" in text
    )
    method = text.split("Method, in plain words", 1)[1]
    assert "Truncated answers were classified on their prefix." in method
    assert f"({n} such answer(s), {n} with an answer label)" in method
    assert "empty and truncated answers are counted separately" not in method


def test_default_method_leaves_truncated_answers_out(html: str) -> None:
    method = _text(html).split("Method, in plain words", 1)[1]
    assert "empty and truncated answers are counted separately and left out" in method
    assert "classified on their prefix" not in _text(html)


def test_an_ensemble_run_says_how_many_answers_the_judge_decided(tmp_path: Path) -> None:
    run_dir = make_run_folder(tmp_path, hostile=False)
    _edit_run_json(run_dir, config={"classifier": "ensemble", "judge": {"model": "judge-7b"}},
                   classifier={"name": "ensemble", "judge_model": "judge-7b", "to_judge": 37, "by_rules": 163,
                               "judge_calls": 30, "judge_cached": 7, "judge_unparsed": 2, "judge_failures": 0})
    text = _text(render_report(run_dir).read_text(encoding="utf-8"))
    classifier = text.split("Classifier", 1)[1].split("Status", 1)[0]
    assert "ensemble (judge model judge-7b); 37 of 200 answers went to the judge" in classifier
    assert "2 judge replies were unparseable" in classifier
