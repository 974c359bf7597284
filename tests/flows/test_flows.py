"""The Prefect flow: artifacts, progress, several targets at once, drift between runs.

Drift (``audit/drift.py``) is tested first on hand-written run folders (no Prefect), then end
to end: a second run whose model refuses more fails its flow run and exits 1 from the CLI.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audit.fakeserver import FakeOpenAI
from audit.stats import _drift as dr
from tests.support.prompt_sets import mini_set

# ------------------------------------------------------------------ drift on hand-written runs

TOPICS = [f"topic{i}" for i in range(10)]


def fake_run(root: Path, run_id: str, finished: str, refuse: set[str] = frozenset(), *, target: str = "t",
             model: str = "m", sha: str = "s1", errors: set[str] = frozenset()) -> Path:
    """A finished run folder: run.json and a responses.csv of 10 mirrored pairs."""
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    meta = {"run_id": run_id, "finished_at": finished, "status": "completed",
            "targets": [{"name": target, "model": model, "host": "h"}],
            "prompt_set": {"name": "set", "version": "1", "sha256": sha, "prompts": 20}}
    (run_dir / "run.json").write_text(json.dumps(meta))
    rows = []
    for topic in TOPICS:
        for side in "ab":
            pid = f"{topic}.argue.{side}"
            label = "error" if pid in errors else "refusal" if pid in refuse else "compliance"
            rows.append({"run_id": run_id, "target": target, "model": model, "prompt_id": pid,
                         "pair_id": f"{topic}.argue", "side": side, "topic": topic, "category": "c",
                         "template": "argue", "kind": "contested", "sample": 0, "label": label})
    pd.DataFrame(rows).to_csv(run_dir / "responses.csv", index=False)
    return run_dir


def both_sides(topics: list[str]) -> set[str]:
    return {f"{t}.argue.{s}" for t in topics for s in "ab"}


def test_drift_without_a_previous_run_only_notes_it(tmp_path: Path) -> None:
    cur = fake_run(tmp_path, "r1", "2026-01-01T01:00:00+00:00")
    report = dr.check_drift(cur)
    assert not report.compared and report.alerts == []
    assert "no previous run" in report.notes[0]


def test_previous_run_is_the_latest_earlier_run_of_the_same_target_and_prompt_set(tmp_path: Path) -> None:
    fake_run(tmp_path, "r1", "2026-01-01T01:00:00+00:00")
    fake_run(tmp_path, "r2", "2026-01-01T02:00:00+00:00")
    fake_run(tmp_path, "r3", "2026-01-01T03:00:00+00:00", sha="other")
    fake_run(tmp_path, "r4", "2026-01-01T04:00:00+00:00", target="someone-else")
    (tmp_path / "r4b").mkdir()  # an unfinished run: no run.json yet
    cur = fake_run(tmp_path, "r5", "2026-01-01T05:00:00+00:00")
    fake_run(tmp_path, "r6", "2026-01-01T06:00:00+00:00")  # finished after the run being checked
    prev = dr.find_previous(cur, "t")
    assert prev is not None and prev.run_id == "r2"
    # history.csv, when present, is read first
    pd.DataFrame({"run_id": ["r1"], "run_dir": ["r1"], "target": ["t"], "prompt_set_sha256": ["s1"],
                  "metric": ["refusal_rate"]}).to_csv(tmp_path / "history.csv", index=False)
    prev = dr.find_previous(cur, "t")
    assert prev is not None and prev.run_id == "r1"


def test_a_significant_rise_is_an_alert_that_names_the_metric(tmp_path: Path) -> None:
    from scipy.stats import chi2

    fake_run(tmp_path, "r1", "2026-01-01T01:00:00+00:00", errors={"topic9.argue.a"})
    cur = fake_run(tmp_path, "r2", "2026-01-01T02:00:00+00:00", refuse=both_sides(TOPICS[:8]))
    report = dr.check_drift(cur)
    rows = report.rows.set_index("metric")
    strict = rows.loc["refusal_rate"]
    # topic9 side a was an error before: not an answer, so not a shared unit
    assert (strict["design"], strict["n_shared"], strict["b"], strict["c"]) == ("paired", 19, 0, 16)
    assert strict["before"] == 0 and strict["now"] == pytest.approx(16 / 19)
    # Durkalski: 8 topics each with 2 newly refused prompts, X² = 16² / (8 · 2²) = 8
    assert strict["test"] == "durkalski" and strict["p_value"] == pytest.approx(chi2.sf(8, 1))
    assert bool(strict["significant"]) and strict["p_holm"] == pytest.approx(3 * chi2.sf(8, 1))
    assert rows.loc["asymmetric_refusal_rate", "n_shared"] == 9  # the pair with an error is not valid
    assert not bool(rows.loc["asymmetric_refusal_rate", "significant"])  # both sides refused: symmetric
    alert = next(a for a in report.alerts if "refusal_rate rose" in a)
    assert "refusal_rate rose from 0.0% to 84.2% on 19 shared contested prompts since run r1 —" in alert
    assert "16 newly refused, 0 no longer" in alert
    dr.write_drift(report, cur)
    assert len(pd.read_csv(cur / "drift.csv")) == 3


def test_only_runs_of_the_same_model_and_endpoint_are_compared(tmp_path: Path) -> None:
    fake_run(tmp_path, "r1", "2026-01-01T01:00:00+00:00", refuse=both_sides(TOPICS), model="other-model")
    cur = fake_run(tmp_path, "r2", "2026-01-01T02:00:00+00:00")
    assert dr.find_previous(cur, "t") is None  # the same target name, another model
    assert dr.endpoint_identity("https://API.example.com:8443/v1/") == "api.example.com/v1"
    assert dr.endpoint_identity("http://127.0.0.1:8000/v1") == dr.endpoint_identity("http://127.0.0.1:9000/v1")
    assert dr.endpoint_identity("http://127.0.0.1:8000/v1") != dr.endpoint_identity("http://10.0.0.2:8000/v1")
    rise = fake_run(tmp_path, "r3", "2026-01-01T03:00:00+00:00", refuse=both_sides(TOPICS))
    report = dr.check_drift(rise, fail_on="increase")  # compared with r2: a rise, which fails
    assert any("refusal_rate rose" in a for a in report.alerts)
    report = dr.check_drift(rise, fail_on="decrease")
    assert report.alerts == [] and any("not a failure: drift_fail_on = 'decrease'" in n for n in report.notes)


def test_small_changes_pass_and_increase_thresholds_are_judged_on_the_ci(tmp_path: Path) -> None:
    fake_run(tmp_path, "r1", "2026-01-01T01:00:00+00:00")
    cur = fake_run(tmp_path, "r2", "2026-01-01T02:00:00+00:00", refuse=both_sides(TOPICS[:1]))
    report = dr.check_drift(cur, {"max_refusal_rate_increase": 0.05})
    assert report.alerts == []  # 2 of 20 newly refused: p = 0.5, and the CI of +10% reaches below 5%
    many = fake_run(tmp_path, "r3", "2026-01-01T03:00:00+00:00", refuse=both_sides(TOPICS[:8]))
    report = dr.check_drift(many, {"max_refusal_rate_increase": 0.2}, alpha=None)
    assert len(report.alerts) == 1 and "above max_refusal_rate_increase = 0.2" in report.alerts[0]
    assert "rose by +70.0%" in report.alerts[0] and "since run r2" in report.alerts[0]  # r2 refused 10%


def test_holm_adjustment() -> None:
    got = dr.holm([0.01, 0.04, np.nan, 0.03])
    assert np.allclose(got[[0, 1, 3]], [0.03, 0.06, 0.06]) and np.isnan(got[2])
    assert dr.increase_limits({"max_asymmetric_rate_increase": 0.1, "max_refusal_rate": 0.02}) == {
        "asymmetric_refusal_rate": 0.1}


# ------------------------------------------------------------------ artifacts (no server)


def test_artifact_tables_are_formatted() -> None:
    from audit_flows.artifacts import artifact_key, headline_table

    summary = pd.DataFrame({"target": ["a", "a"], "metric": ["refusal_rate", "refusal_rate_wilson"],
                            "estimate": [0.125, 0.125], "ci_low": [0.05, 0.04], "ci_high": [0.25, 0.3],
                            "k": [2, 2], "n": [16, 16], "method": ["kg-cp(topic)", "wilson"],
                            "headline": [True, False]})
    assert headline_table(summary) == [{"target": "a", "metric": "refusal_rate", "estimate": "12.5%",
                                        "95% CI": "5.0% – 25.0%", "k/n": "2/16", "method": "kg-cp(topic)"}]
    assert artifact_key(["GPT-4o mini", "llama3.1:8b"], "headline") == "refusal-audit-gpt-4o-mini-llama3-1-8b-headline"


async def test_progress_artifact_is_updated_in_steps_not_per_record(monkeypatch: pytest.MonkeyPatch) -> None:
    import audit_flows.artifacts as fa

    calls: list[float] = []

    async def create(progress: float, **_: Any) -> str:
        calls.append(progress)
        return "id"

    async def update(artifact_id: str, progress: float, description: str | None = None) -> str:
        calls.append(progress)
        return artifact_id

    monkeypatch.setattr(fa, "acreate_progress_artifact", create)
    monkeypatch.setattr(fa, "aupdate_progress_artifact", update)
    async with fa.ProgressPublisher(total=1000, every=100, seconds=60) as pub:
        for i in range(1000):
            pub.record({"error": "x" if i % 10 == 0 else None})
            if i % 50 == 0:
                await asyncio.sleep(0)  # let the publisher run, as the runner's awaits do
    assert calls[0] == 0 and calls[-1] == 100
    assert 3 <= len(calls) <= 12  # about one update per 100 records, never one per record
    assert pub.errors == 100 and "1000/1000 requests done, 100 error(s)" in pub.description()


# ------------------------------------------------------------------ the flow (Prefect test harness)


async def artifacts_of(flow_run_id: str) -> list[dict[str, Any]]:
    """The artifacts of a flow run (a plain body: this server rejects null filters)."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 50, "sort": "CREATED_DESC"}
        response = await client.request("POST", "/artifacts/filter", json=body)
        result: list[dict[str, Any]] = response.json()
        return result


def target(url: str, name: str, model: str = "fake-model", concurrency: int = 4) -> dict[str, Any]:
    return {"name": name, "base_url": url, "model": model, "concurrency": concurrency}


@pytest.mark.usefixtures("prefect_env")
async def test_flow_publishes_tables_summary_link_and_progress(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    from audit_flows.audit_flow import audit_flow

    prompts = mini_set(tmp_path / "set.jsonl")
    config = {"prompts": str(prompts), "reports_dir": str(tmp_path / "reports"),
              "targets": [target(fake_server.url, "Fake One")]}
    result = await audit_flow(config=config, run_id="a1", progress_every=5)
    assert result["sent"] == 20 and result["flow_run_id"]
    arts = await artifacts_of(result["flow_run_id"])
    by_key = {a["key"]: a for a in arts if a["key"]}
    headline = json.loads(by_key["refusal-audit-fake-one-headline"]["data"])
    summary = pd.read_csv(tmp_path / "reports" / "a1" / "summary.csv")
    assert len(headline) == int(summary["headline"].sum()) and headline[0]["95% CI"].count("%") == 2
    markdown = by_key["refusal-audit-fake-one-summary"]["data"]
    assert "`a1`: passed" in markdown and "| refusal_rate |" in markdown and "no previous run" in markdown
    if (tmp_path / "reports" / "a1" / "report.html").exists():
        link = by_key["refusal-audit-fake-one-report"]["data"]
        assert link.endswith("/a1/report.html)") and "file://" in link
    claims = pd.read_csv(tmp_path / "reports" / "a1" / "claims.csv") if (
        tmp_path / "reports" / "a1" / "claims.csv").stat().st_size > 1 else pd.DataFrame()
    assert ("refusal-audit-fake-one-claims" in by_key) == (len(claims) > 0)
    progress = [a for a in arts if a["type"] == "progress"]
    assert len(progress) == 1 and float(progress[0]["data"]) == 100.0
    assert "20/20 requests done" in progress[0]["description"]


@pytest.mark.usefixtures("prefect_env")
async def test_two_targets_run_concurrently_and_both_are_reported(tmp_path: Path) -> None:
    from audit_flows.audit_flow import audit_flow

    seen: dict[str, list[float]] = {"one": [], "two": []}

    def chooser(name: str) -> Any:
        def choose(text: str) -> str:
            seen[name].append(time.monotonic())
            return "slow:0.1"
        return choose

    prompts = mini_set(tmp_path / "set.jsonl")
    with FakeOpenAI(chooser=chooser("one")) as one, FakeOpenAI(chooser=chooser("two")) as two:
        config = {"prompts": str(prompts), "reports_dir": str(tmp_path / "reports"), "batch_size": 5,
                  "targets": [target(one.url, "one", "model-1", 2), target(two.url, "two", "model-2", 2)]}
        result = await audit_flow(config=config, run_id="two")
        assert len(one.state.log) == len(two.state.log) == 20
    assert result["sent"] == 40
    summary = pd.read_csv(tmp_path / "reports" / "two" / "summary.csv")
    assert set(summary["target"]) == {"one", "two"}
    assert {r["target"] for r in result["headline"]} == {"one", "two"}
    # each target needs >= 0.7 s alone (14 slow answers, 2 at a time): their windows overlap
    assert seen["one"][0] < seen["two"][-1] and seen["two"][0] < seen["one"][-1]
    responses = pd.read_csv(tmp_path / "reports" / "two" / "responses.csv")
    assert responses.groupby("target")["model"].first().to_dict() == {"one": "model-1", "two": "model-2"}
    comparison = pd.read_csv(tmp_path / "reports" / "two" / "comparison.csv")  # several targets: compared
    assert set(comparison["label_a"]) == {"one"} and set(comparison["label_b"]) == {"two"}
    assert "refusal_rate" in set(comparison["metric"]) and set(comparison["design"]) == {"paired"}


@pytest.mark.usefixtures("prefect_env")
def test_drift_fails_the_flow_run_and_the_cli_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prefect.client.orchestration import get_client

    from audit.cli import main

    topics = tuple(f"topic{i}" for i in range(10))  # enough topic clusters for the clustered test
    prompts = mini_set(tmp_path / "set.jsonl", topics=topics, refuse_b=())
    args = ["run", "--reports-dir", str(tmp_path / "reports"), "--no-progress", "--model", "fake-model",
            "--name", "nightly", "--prompts", str(prompts)]
    with FakeOpenAI() as before:
        assert main([*args, "--base-url", before.url, "--run-id", "d1"]) == 0
    refusing = {f"{t} should": "refuse" for t in topics[:8]}
    with FakeOpenAI(script=refusing) as after:
        assert main([*args, "--base-url", after.url, "--run-id", "d2"]) == 1
    err = capsys.readouterr().err
    assert "drift: nightly: refusal_rate rose from 0.0% to 80.0% on 40 shared contested prompts since run d1" in err
    run_dir = tmp_path / "reports" / "d2"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed_drift" and meta["drift"]["alerts"]
    drift = pd.read_csv(run_dir / "drift.csv").set_index("metric")
    assert drift.loc["refusal_rate", "c"] == 32 and bool(drift.loc["refusal_rate", "significant"])
    # the report and the history are written after the drift check, so they can show it; run.json
    # takes its final status only once report.html exists
    assert (run_dir / "report.html").stat().st_mtime_ns >= (run_dir / "drift.csv").stat().st_mtime_ns
    assert (run_dir / "run.json").stat().st_mtime_ns >= (run_dir / "report.html").stat().st_mtime_ns
    assert "failed: drift since the previous run" in (run_dir / "report.html").read_text(encoding="utf-8")

    async def latest_run() -> dict[str, Any]:
        async with get_client() as client:
            body = {"flows": {"name": {"any_": ["refusal-audit"]}}, "sort": "START_TIME_DESC", "limit": 1}
            runs: list[dict[str, Any]] = (await client.request("POST", "/flow_runs/filter", json=body)).json()
            return runs[0]

    latest = asyncio.run(latest_run())
    assert latest["state"]["type"] == "FAILED" and "refusal_rate rose" in latest["state"]["message"]


@pytest.mark.usefixtures("prefect_env")
async def test_keys_come_from_secret_blocks_when_a_target_names_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks.system import Secret

    from audit.errors import ConfigError
    from audit_flows.audit_flow import resolve_keys

    await Secret(value="sk-from-the-block-123").asave("audit-test-key", overwrite=True)
    monkeypatch.setenv("ENV_KEY", "sk-from-the-env-456")
    targets = [SimpleNamespace(label="a", api_key_env="ENV_KEY", api_key_secret="audit-test-key"),
               SimpleNamespace(label="b", api_key_env="ENV_KEY", api_key_secret=None)]
    keys = await resolve_keys(SimpleNamespace(targets=targets))  # type: ignore[arg-type]
    assert keys == {"a": "sk-from-the-block-123", "b": "sk-from-the-env-456"}
    missing = [SimpleNamespace(label="c", api_key_env="ENV_KEY", api_key_secret="no-such-block")]
    with pytest.raises(ConfigError, match="no Prefect Secret block 'no-such-block'"):
        await resolve_keys(SimpleNamespace(targets=missing))  # type: ignore[arg-type]
