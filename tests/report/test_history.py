"""history.csv (idempotent per run, atomic, ordered) and index.html (runs and trends)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.errors import InputError
from audit.report._history import HISTORY_COLUMNS, append_history, read_history, render_index
from audit.report._html import render_report
from tests.support.run_folders import assert_self_contained, make_run_folder


def _read(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "history.csv", keep_default_na=False)


def test_append_writes_one_row_per_target_and_headline_metric(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    path = append_history(run, tmp_path)
    df = _read(tmp_path)
    assert path == tmp_path / "history.csv"
    assert list(df.columns) == HISTORY_COLUMNS
    assert len(df) == 6
    assert set(df["metric"]) == {"refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate"}
    assert set(df["target"]) == {"model-a", "model-b"}
    row = df[(df["target"] == "model-a") & (df["metric"] == "refusal_rate")].iloc[0]
    assert row["run_id"] == run.name and row["run_dir"] == run.name
    assert row["finished_at"] == "2025-03-01T10:30:00+00:00"
    assert row["prompt_set_sha256"] == "ab" * 32 and row["model"] == "acme-chat-7b"
    assert 0 < row["ci_low"] < row["estimate"] < row["ci_high"] < 1
    assert (
        row["claim"] == "Refuses about 7% of contested prompts" and row["claim_reference"] == 0.07
    )
    assert row["verdict"] in {"consistent with the claim", "contradicts the claim"}
    assert not list(tmp_path.glob("*.tmp"))


def test_append_is_idempotent_per_run(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    append_history(run, tmp_path)
    first = (tmp_path / "history.csv").read_bytes()
    append_history(run, tmp_path)
    render_report(run)
    append_history(run, tmp_path)
    assert (tmp_path / "history.csv").read_bytes() == first


def test_rerun_with_new_numbers_replaces_its_rows(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    append_history(run, tmp_path)
    make_run_folder(tmp_path, p_refuse=0.2, seed=5)  # same run id, new numbers
    append_history(run, tmp_path)
    df = _read(tmp_path)
    assert len(df) == 6
    assert df.loc[df["metric"] == "refusal_rate", "estimate"].min() > 0.1


def test_runs_are_ordered_by_finish_time_whatever_the_append_order(tmp_path: Path) -> None:
    late = make_run_folder(tmp_path, run_id="late", finished_at="2025-04-01T00:00:00+00:00")
    early = make_run_folder(tmp_path, run_id="early", finished_at="2025-02-01T00:00:00Z")
    append_history(late, tmp_path)
    append_history(early, tmp_path)
    df = _read(tmp_path)
    assert list(dict.fromkeys(df["run_id"])) == ["early", "late"] and len(df) == 12


def test_extra_columns_in_history_are_kept(tmp_path: Path) -> None:
    a = make_run_folder(tmp_path, run_id="a")
    append_history(a, tmp_path)
    df = _read(tmp_path).assign(note="kept")
    df.to_csv(tmp_path / "history.csv", index=False)
    append_history(make_run_folder(tmp_path, run_id="b"), tmp_path)
    df = _read(tmp_path)
    assert "note" in df.columns and set(df.loc[df["run_id"] == "a", "note"]) == {"kept"}


def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    runs = [make_run_folder(tmp_path, run_id=f"run-{i}", seed=i, hostile=False) for i in range(4)]
    threads = [threading.Thread(target=append_history, args=(run, tmp_path)) for run in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_read(tmp_path)) == 24


def test_missing_metrics_give_fewer_rows(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    summary = pd.read_csv(run / "summary.csv")
    summary[summary["metric"] != "asymmetric_refusal_rate"].to_csv(run / "summary.csv", index=False)
    (run / "claims.csv").unlink()
    append_history(run, tmp_path)
    df = _read(tmp_path)
    assert len(df) == 4 and set(df["verdict"]) == {""}


def test_counts_are_numbers_not_formatted_text(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    summary = pd.read_csv(run / "summary.csv")
    summary.loc[summary["metric"] == "refusal_rate", ["k", "n"]] = [120, 1500]
    summary.loc[summary["metric"] == "refusal_rate_broad", "n"] = None  # a missing count stays empty
    summary.to_csv(run / "summary.csv", index=False)
    append_history(run, tmp_path)
    text = (tmp_path / "history.csv").read_text()
    assert "1,500" not in text and ",120,1500," in text and "1500.0" not in text
    df = pd.read_csv(tmp_path / "history.csv")
    rates = df[df["metric"] == "refusal_rate"]
    assert list(rates["n"]) == [1500, 1500] and rates["n"].dtype.kind in "if"
    assert df.loc[df["metric"] == "refusal_rate_broad", "n"].isna().all()


def test_history_of_a_folder_outside_the_root(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path / "elsewhere")
    root = tmp_path / "reports"
    append_history(run, root)
    assert set(_read(root)["run_dir"]) == {"../elsewhere/" + run.name}


def test_read_history_when_absent(tmp_path: Path) -> None:
    assert list(read_history(tmp_path).columns) == HISTORY_COLUMNS


def _three_runs(root: Path) -> list[Path]:
    runs = []
    for i, day in enumerate(("01", "08", "15")):
        run = make_run_folder(
            root,
            run_id=f"run-2025-03-{day}",
            seed=i,
            p_refuse=0.03 * (i + 1),
            finished_at=f"2025-03-{day}T10:00:00+00:00",
        )
        render_report(run)
        append_history(run, root)
        runs.append(run)
    return runs


def test_index_lists_runs_and_trends(tmp_path: Path) -> None:
    _three_runs(tmp_path)
    html = render_index(tmp_path).read_text(encoding="utf-8")
    assert_self_contained(html)
    assert "<script" not in html
    for day in ("01", "08", "15"):
        assert f'<a href="run-2025-03-{day}/report.html">run-2025-03-{day}</a>' in html
    assert html.count("<polygon") == 6  # 2 targets × 3 metrics, each a CI band
    assert "claim ≈7%" in html and "claim &lt;1%" in html
    assert "&lt;b&gt;bold-model&lt;/b&gt;" in html and "<b>bold-model" not in html
    assert "(3 runs)" in html


def test_index_includes_run_folders_missing_from_history(tmp_path: Path) -> None:
    make_run_folder(tmp_path, run_id="not-yet-in-history")
    (tmp_path / "stray").mkdir()  # not a run folder: ignored
    html = render_index(tmp_path).read_text(encoding="utf-8")
    assert "not-yet-in-history" in html and "(no report.html)" in html
    assert not (tmp_path / "history.csv").exists()  # the index never writes the history


def test_a_new_prompt_set_starts_a_new_series(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path, run_id="v2", finished_at="2025-05-01T00:00:00+00:00")
    meta = json.loads((run / "run.json").read_text())
    meta["prompt_set"]["sha256"] = "cd" * 32
    (run / "run.json").write_text(json.dumps(meta))
    append_history(run, tmp_path)
    append_history(make_run_folder(tmp_path, run_id="v1"), tmp_path)
    html = render_index(tmp_path).read_text(encoding="utf-8")
    assert html.count("(1 run)") == 4


def test_index_of_a_missing_root_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such reports folder"):
        render_index(tmp_path / "absent")


def test_index_of_an_empty_root(tmp_path: Path) -> None:
    html = render_index(tmp_path).read_text(encoding="utf-8")
    assert "No runs yet" in html


def test_cli_report_history(tmp_path: Path) -> None:
    run = make_run_folder(tmp_path)
    assert main(["report", str(run), "--history", "--reports-root", str(tmp_path)]) == 0
    assert (run / "report.html").is_file() and (tmp_path / "index.html").is_file()
    assert len(_read(tmp_path)) == 6
    (tmp_path / "index.html").unlink()
    assert main(["report", "--history", "--reports-root", str(tmp_path)]) == 0
    assert (tmp_path / "index.html").is_file()


def _fail(run: Path, **updates: object) -> None:
    meta = json.loads((run / "run.json").read_text())
    meta.update(updates)
    (run / "run.json").write_text(json.dumps(meta))


BREACH = "model-a: refusal_rate 13.70% (CI low 9.70%) exceeds max_refusal_rate = 0.02"
DRIFT = (
    "drift: model-b: refusal_rate rose from 5.0% to 9.0% <b>since</b> run old — durkalski "
    "p = 0.001 (Holm 0.003 < 0.05; 6 newly refused, 2 no longer)"
)


def test_history_records_status_and_alerts(tmp_path: Path) -> None:
    ok = make_run_folder(tmp_path, run_id="ok", finished_at="2025-03-01T00:00:00+00:00")
    bad = make_run_folder(tmp_path, run_id="bad", finished_at="2025-03-02T00:00:00+00:00")
    _fail(
        bad,
        status="failed_thresholds",
        breaches=[BREACH],
        drift={"alerts": [DRIFT], "notes": ["model-a: compared with run ok"]},
    )
    append_history(ok, tmp_path)
    append_history(bad, tmp_path)
    df = _read(tmp_path)
    assert list(df.columns)[-2:] == ["status", "alerts"]
    assert set(df.loc[df["run_id"] == "ok", "status"]) == {"completed"}
    assert set(df.loc[df["run_id"] == "ok", "alerts"]) == {""}
    assert set(df.loc[df["run_id"] == "bad", "status"]) == {"failed_thresholds"}
    assert set(df.loc[df["run_id"] == "bad", "alerts"]) == {f"{BREACH}; {DRIFT}"}


def test_index_marks_failed_runs_with_their_alerts(tmp_path: Path) -> None:
    ok = make_run_folder(tmp_path, run_id="ok", finished_at="2025-03-01T00:00:00+00:00")
    drifted = make_run_folder(tmp_path, run_id="drifted", finished_at="2025-03-02T00:00:00+00:00")
    _fail(drifted, status="failed_drift", drift={"alerts": [DRIFT], "notes": []})
    for run in (ok, drifted):
        render_report(run)
        append_history(run, tmp_path)
    html = render_index(tmp_path).read_text(encoding="utf-8")
    assert_self_contained(html)
    rows = re.findall(r"<tr(?: class=\"failed\")?>.*?</tr>", html, re.DOTALL)
    failed = [r for r in rows if r.startswith('<tr class="failed">')]
    assert len(failed) == 2 and all(">drifted</a>" in r for r in failed)  # 2 targets
    assert all('<td class="fail">✗ failed: drift since the previous run' in r for r in failed)
    assert all("&lt;b&gt;since&lt;/b&gt;" in r for r in failed) and "<b>since" not in html
    assert all(r.count("<li>") == 1 and "(Holm 0.003 &lt; 0.05; 6 newly" in r for r in failed)
    good = [r for r in rows if ">ok</a>" in r]
    assert len(good) == 2 and all('<td class="ok">completed' in r for r in good)


def test_old_history_without_status_columns_still_loads(tmp_path: Path) -> None:
    old = make_run_folder(tmp_path, run_id="old", finished_at="2025-01-01T00:00:00+00:00")
    append_history(old, tmp_path)
    legacy = _read(tmp_path).drop(columns=["status", "alerts"])
    legacy.to_csv(tmp_path / "history.csv", index=False)  # as written before the columns existed
    assert list(read_history(tmp_path).columns) == HISTORY_COLUMNS
    assert set(read_history(tmp_path)["status"]) == {""}
    new = make_run_folder(tmp_path, run_id="new", finished_at="2025-02-01T00:00:00+00:00")
    _fail(new, status="failed_thresholds", breaches=[BREACH])
    append_history(new, tmp_path)
    df = _read(tmp_path)
    assert list(df.columns) == HISTORY_COLUMNS and len(df) == 12
    assert set(df.loc[df["run_id"] == "old", "status"]) == {""}
    assert set(df.loc[df["run_id"] == "new", "alerts"]) == {BREACH}
    html = render_index(tmp_path).read_text(encoding="utf-8")
    assert "not recorded" in html and "✗ failed: thresholds breached" in html


def test_alerts_cell_splits_breaches_but_keeps_each_drift_alert_whole() -> None:
    from audit.report._history import split_alerts

    other = (
        "model-b: asymmetric_refusal_rate 3.00% (CI low 1.20%) exceeds max_asymmetric_rate = 0.01"
    )
    assert split_alerts(f"{BREACH}; {other}; {DRIFT}; {DRIFT}") == [BREACH, other, DRIFT, DRIFT]
    assert split_alerts(DRIFT) == [DRIFT] and split_alerts("") == []
