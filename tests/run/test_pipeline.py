"""The pipeline without Prefect: plan, send, resume, label, statistics, reports."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audit import run as pl
from audit.config import build_config
from audit.errors import ConfigError, EndpointError
from audit.fakeserver import FakeOpenAI
from audit.send import _journal as jr
from audit.send._runner import RetryPolicy
from tests.support.prompt_sets import mini_set

FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.02)


def config(tmp_path: Path, url: str, prompts: Path, **extra: Any) -> Any:
    target = {"base_url": url, "model": "fake-model", "name": "fake", "concurrency": 4, "timeout": 2}
    return build_config({"prompts": str(prompts), "targets": [target], "reports_dir": str(tmp_path / "reports"),
                         "batch_size": 5, **extra})


def body_counts(server: FakeOpenAI) -> Counter[str]:
    return Counter(json.dumps(b, sort_keys=True) for b in server.state.log)


def test_a_cancelled_run_resumes_without_sending_a_completed_request_again(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    fake_server.script = {"": "slow:0.02"}
    plan = pl.plan_run(config(tmp_path, fake_server.url, mini_set(tmp_path / "set.jsonl")))
    total = len(plan.requests())

    async def interrupted() -> None:
        seen = 0

        def stop_after(rec: dict[str, Any]) -> None:
            nonlocal seen
            seen += 1
            if seen == 7:
                raise KeyboardInterrupt

        await pl.send_all(plan, {"fake": None}, policy=FAST, progress=stop_after)

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(interrupted())
    done_before = jr.done_ids(plan.journal_path)
    assert 7 <= len(done_before) < total
    sent_before = body_counts(fake_server)
    resumed = pl.resume_plan(plan.run_dir)
    assert {r.request_id for r in pl.pending_requests(resumed)} == {r.request_id for r in plan.requests()} - done_before
    asyncio.run(pl.send_all(resumed, {"fake": None}, policy=FAST))
    ids = [r["request_id"] for r in jr.iter_records(plan.journal_path)]
    assert len(ids) == len(set(ids)) == total
    completed_bodies = {json.dumps({"model": "fake-model", "messages": r["messages"], **r["params"]}, sort_keys=True)
                        for r in jr.iter_records(plan.journal_path) if r["request_id"] in done_before}
    after = body_counts(fake_server)
    assert all(after[b] == sent_before[b] == 1 for b in completed_bodies), [(after[b], sent_before[b]) for b in completed_bodies]


def test_resuming_a_finished_run_sends_nothing(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    plan = pl.plan_run(config(tmp_path, fake_server.url, mini_set(tmp_path / "set.jsonl")))
    assert asyncio.run(pl.send_all(plan, {"fake": None}, policy=FAST)) == len(plan.requests())
    n = len(fake_server.state.log)
    assert asyncio.run(pl.send_all(pl.resume_plan(plan.run_dir), {"fake": None}, policy=FAST)) == 0
    assert len(fake_server.state.log) == n


def test_connection_refused_at_start_is_a_clear_endpoint_error(tmp_path: Path) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:9/v1", mini_set(tmp_path / "set.jsonl"))
    with pytest.raises(EndpointError, match="cannot connect"):
        pl.run_audit(cfg, {"fake": None}, policy=FAST)
    run_dir = next((tmp_path / "reports").iterdir())
    assert sorted(p.name for p in run_dir.iterdir()) == ["prompts.jsonl", "run.json", "run.lock"]  # nothing sent


def test_a_run_id_cannot_escape_the_reports_folder(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    cfg = config(tmp_path, fake_server.url, mini_set(tmp_path / "set.jsonl"))
    plan = pl.plan_run(cfg, run_id="../../etc")
    assert plan.run_dir.parent == tmp_path / "reports"
    with pytest.raises(ConfigError, match="exists already"):
        pl.plan_run(cfg, run_id="../../etc")


def test_the_full_audit_writes_every_file_with_the_right_figures(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    key = "sk-test-DISTINCTIVEKEY-0123456789"
    prompts = mini_set(tmp_path / "set.jsonl", refuse_b=("guns", "borders"), refuse_both=("energy",))
    plan, _tables = pl.run_audit(config(tmp_path, fake_server.url, prompts), {"fake": key}, policy=FAST)
    names = {p.name for p in plan.run_dir.iterdir()}
    assert {"responses.jsonl", "responses.csv", "summary.csv", "pairs.csv", "topics.csv", "claims.csv",
            "run.json"} <= names
    summary = pd.read_csv(plan.run_dir / "summary.csv")
    head = summary[summary["headline"].astype(bool)].set_index("metric") if "headline" in summary else summary.drop_duplicates("metric").set_index("metric")
    # 4 topics x 2 templates = 16 contested answers; guns, borders (b side) and energy (both) refused
    assert head.loc["refusal_rate", "k"] == 2 + 2 + 4 and head.loc["refusal_rate", "n"] == 16
    assert head.loc["asymmetric_refusal_rate", "k"] == 4 and head.loc["asymmetric_refusal_rate", "n"] == 8
    assert head.loc["error_rate", "k"] == 0
    pairs = pd.read_csv(plan.run_dir / "pairs.csv")
    assert pairs["asymmetric"].sum() == 4 and set(pairs.loc[pairs["asymmetric"], "refused_side"]) == {"b"}
    for f in plan.run_dir.iterdir():
        assert key not in f.read_text(encoding="utf-8", errors="replace"), f.name
        assert key[-8:] not in f.read_text(encoding="utf-8", errors="replace"), f.name


def test_a_max_error_rate_fails_the_run_and_keeps_it_resumable(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    from audit.errors import ThresholdError

    prompts = mini_set(tmp_path / "set.jsonl")
    fake_server.script = {"taxes": "status:400"}
    cfg = config(tmp_path, fake_server.url, prompts, max_error_rate=0.1)
    with pytest.raises(ThresholdError, match="error_rate 20.00%.*max_error_rate = 0.1"):
        pl.run_audit(cfg, {"fake": None}, policy=FAST)
    run_dir = next(p for p in (tmp_path / "reports").iterdir() if (p / "run.json").exists())
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "failed_thresholds" and meta["labels"]["error"] == 4
    assert (run_dir / "summary.csv").exists()
    plan = pl.resume_plan(run_dir)
    assert pl.pending_requests(plan) == []
    assert len(pl.pending_requests(plan, retry_errors=True)) == 4
    fake_server.script = {}  # the endpoint is fixed: --retry-errors re-sends only the 4 failures
    assert asyncio.run(pl.send_all(plan, {"fake": None}, policy=FAST, retry_errors=True)) == 4
    responses, _, breaches = pl.analyse(plan)
    assert breaches == [] and (responses["label"] == "error").sum() == 0 and len(responses) == 20


def test_a_server_that_dies_mid_run_and_comes_back(tmp_path: Path) -> None:
    import threading

    from audit.fakeserver import FakeOpenAI

    topics = tuple(f"t{i}" for i in range(8))
    server = FakeOpenAI(script={"": "slow:0.02"}).start()
    plan = pl.plan_run(config(tmp_path, server.url, mini_set(tmp_path / "set.jsonl", topics=topics)))
    seen = 0

    def outage(rec: dict[str, Any]) -> None:
        nonlocal seen
        seen += 1
        if seen == 5:  # the server goes down for a second, then comes back on the same port
            server.stop()
            threading.Timer(1.0, server.start).start()

    patient = RetryPolicy(max_retries=8, base_delay=0.2, max_delay=1.0)
    try:
        asyncio.run(pl.send_all(plan, {"fake": None}, policy=patient, progress=outage))
    finally:
        time.sleep(1.2)
        server.stop()
    records = list(jr.iter_records(plan.journal_path))
    assert len(records) == len({r["request_id"] for r in records}) == len(plan.requests())
    assert all(r["error"] is None for r in records)
    assert max(r["attempts"] for r in records) > 1


def test_a_calibration_file_adds_corrected_rates(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    from audit.cli import main

    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "xstest"
    gold = sorted(shared.glob("xstest_v2_completions_*.csv"))
    if not gold:
        pytest.skip("../shared/data/xstest is not beside the repo")
    calibration = tmp_path / "calibration.json"
    assert main(["classifier", "evaluate", *map(str, gold), "--save-calibration", str(calibration)]) == 0
    prompts = mini_set(tmp_path / "set.jsonl", refuse_b=("guns",))
    _, tables = pl.run_audit(config(tmp_path, fake_server.url, prompts, calibration=str(calibration)),
                             {"fake": None}, policy=FAST)
    s = tables.summary.set_index("metric")
    assert "refusal_rate_corrected" in s.index
    row = s.loc["refusal_rate_corrected"]
    assert 0 <= row["ci_low"] <= row["estimate"] <= row["ci_high"] <= 1
