"""Sharded runs: the split, the shard journals, their merge, and the parent flow's handling of a
failed shard and of a resume (the real two-worker run is in tests/test_prefect_server.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audit import run as pl
from audit.config import build_config
from audit.errors import ConfigError
from audit.fakeserver import FakeOpenAI
from audit.run import _shards as merge
from audit.send import _journal as jr
from audit.send._runner import RetryPolicy
from tests.support.prompt_sets import mini_set

FAST = RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.01)


def config(tmp_path: Path, url: str, reports: str, *, two_targets: bool = False) -> Any:
    prompts = mini_set(tmp_path / "set.jsonl", refuse_b=("guns",), refuse_both=("energy",))
    targets = [{"name": "one", "base_url": url, "model": "m1", "concurrency": 4}]
    if two_targets:
        targets.append({"name": "two", "base_url": url, "model": "m2", "concurrency": 4})
    return build_config({"prompts": str(prompts), "reports_dir": str(tmp_path / reports), "batch_size": 3,
                         "targets": targets})


def test_shards_partition_the_requests(tmp_path: Path) -> None:
    plan = pl.plan_run(config(tmp_path, "http://127.0.0.1:9/v1", "r", two_targets=True), "p")
    requests = plan.requests()
    parts = [merge.shard_requests(requests, k, 3) for k in range(3)]
    ids = [r.request_id for part in parts for r in part]
    assert sorted(ids) == sorted(r.request_id for r in requests) and len(set(ids)) == len(ids) == 40
    assert all(len(p) >= 5 for p in parts)  # hash-balanced
    again = [merge.shard_requests(pl.resume_plan(plan.run_dir).requests(), k, 3) for k in range(3)]
    assert [[r.request_id for r in p] for p in again] == [[r.request_id for r in p] for p in parts]
    shard = merge.open_shard(plan.run_dir, 1, 3)
    assert shard.journal_path == plan.run_dir / "shards" / "1" / "responses.jsonl"
    assert [r.request_id for r in pl.pending_requests(shard)] == [r.request_id for r in parts[1]]
    with pytest.raises(ConfigError, match="0..2"):
        merge.open_shard(plan.run_dir, 3, 3)


def test_merge_is_a_union_by_request_id_and_idempotent(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    for k, ids in ((0, ["a", "b"]), (1, ["c", "a"])):  # 'a' twice: the first one wins
        with jr.Journal(merge.shard_journal(run_dir, k)) as j:
            for i in ids:
                j.append({"request_id": i, "shard": k})
    with merge.shard_journal(run_dir, 1).open("ab") as fh:
        fh.write(b'{"request_id": "torn')  # a killed shard's torn last line
    assert merge.merge_journals(run_dir) == 3
    assert merge.merge_journals(run_dir) == 0
    records = list(jr.iter_records(run_dir / "responses.jsonl"))
    assert [(r["request_id"], r["shard"]) for r in records] == [("a", 0), ("b", 0), ("c", 1)]
    assert merge.shard_counts(run_dir) == {0: 2, 1: 2}


def test_sharded_sending_gives_the_figures_of_an_unsharded_run(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    single, _ = pl.run_audit(config(tmp_path, fake_server.url, "single", two_targets=True), {}, policy=FAST)
    plan = pl.plan_run(config(tmp_path, fake_server.url, "sharded", two_targets=True), "s")
    for k in range(3):
        sent = asyncio.run(pl.send_all(merge.open_shard(plan.run_dir, k, 3), {}, policy=FAST))
        assert sent > 0
    assert merge.merge_journals(plan.run_dir) == 40
    assert pl.pending_requests(plan) == []
    pl.analyse(plan)
    a = pd.read_csv(single.run_dir / "summary.csv").sort_values(["target", "metric"], ignore_index=True)
    b = pd.read_csv(plan.run_dir / "summary.csv").sort_values(["target", "metric"], ignore_index=True)
    assert list(a["metric"]) == list(b["metric"]) and set(b["target"]) == {"one", "two"}
    for col in ("estimate", "ci_low", "ci_high", "k", "n", "p_value"):
        assert np.allclose(a[col], b[col], equal_nan=True), col


@pytest.mark.usefixtures("prefect_env")
def test_parent_flow_reports_a_failed_shard_and_a_resume_with_other_shards_finishes(
        tmp_path: Path, fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    import audit_flows.sharding as sh
    from audit.errors import AuditError

    async def local_shard(plan: pl.RunPlan, shard: int, shards: int, deployment: str,
                          concurrency_limit: str | None, retry_errors: bool = False) -> Any:
        """The shard flow run here (as a subflow) instead of on a work pool; shard 1 fails once."""
        if shard == 1 and not failed:
            failed.append(shard)
            from prefect.states import Failed
            return SimpleNamespace(name="shard-1", state=Failed(message="worker lost"))
        state = await sh.audit_shard_flow(str(plan.run_dir), shard, shards, concurrency_limit, return_state=True)
        return SimpleNamespace(name=f"shard-{shard}", state=state)

    failed: list[int] = []
    monkeypatch.setattr(sh, "start_shard", local_shard)
    cfg = config(tmp_path, fake_server.url, "reports").public_dict()
    with pytest.raises(AuditError, match=r"shard 1 \(shard-1: Failed\) did not complete.*resume_dir="):
        asyncio.run(sh.sharded_audit_flow(config=cfg, run_id="sh", shards=2))
    run_dir = tmp_path / "reports" / "sh"
    assert not (run_dir / "summary.csv").exists()
    first = len(fake_server.state.log)
    assert 0 < first < 20
    result = asyncio.run(sh.sharded_audit_flow(resume_dir=str(run_dir), shards=3))
    assert len(fake_server.state.log) == 20  # nothing sent twice, though the shards changed
    assert result["sent"] == 20 - first and result["run_id"] == "sh"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert len(pd.read_csv(run_dir / "responses.csv")) == 20


def test_merge_lets_a_later_answer_supersede_an_error_but_not_an_answer(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with jr.Journal(run_dir / "responses.jsonl") as j:
        j.append({"request_id": "x", "error": "InternalServerError: 500"})
        j.append({"request_id": "y", "answer": "first"})
    with jr.Journal(merge.shard_journal(run_dir, 0)) as j:
        j.append({"request_id": "x", "error": "InternalServerError: 502"})  # another error: not added
        j.append({"request_id": "x", "answer": "retried"})  # the answer: added
        j.append({"request_id": "y", "answer": "second"})  # y was answered: not added
    assert merge.merge_journals(run_dir) == 1
    assert merge.merge_journals(run_dir) == 0
    records = list(jr.iter_records(run_dir / "responses.jsonl"))
    assert [(r["request_id"], r.get("answer")) for r in records] == [("x", None), ("y", "first"), ("x", "retried")]


@pytest.mark.usefixtures("prefect_env")
def test_a_sharded_resume_with_retry_errors_replaces_the_errors(tmp_path: Path, fake_server: FakeOpenAI,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import audit_flows.sharding as sh

    async def local_shard(plan: pl.RunPlan, shard: int, shards: int, deployment: str,
                          concurrency_limit: str | None, retry_errors: bool = False) -> Any:
        state = await sh.audit_shard_flow(str(plan.run_dir), shard, shards, concurrency_limit,
                                          retry_errors=retry_errors, return_state=True)
        return SimpleNamespace(name=f"shard-{shard}", state=state)

    monkeypatch.setattr(sh, "start_shard", local_shard)
    cfg = config(tmp_path, fake_server.url, "reports").public_dict()
    cfg["targets"][0]["max_retries"] = 0
    fake_server.script = {"taxes": "status:500"}  # an outage for the 'taxes' prompts
    asyncio.run(sh.sharded_audit_flow(config=cfg, run_id="re", shards=2, check_drift=False))
    run_dir = tmp_path / "reports" / "re"
    before = pd.read_csv(run_dir / "responses.csv")
    errored = set(before.loc[before["error"].notna(), "request_id"])
    assert len(errored) == 4 and len(fake_server.state.log) == 20
    fake_server.script = {}  # the outage is over
    asyncio.run(sh.sharded_audit_flow(resume_dir=str(run_dir), shards=3, retry_errors=True, check_drift=False))
    assert len(fake_server.state.log) == 24  # only the four errors were sent again
    after = pd.read_csv(run_dir / "responses.csv")
    assert len(after) == 20 and after["error"].isna().all()
    assert set(after.loc[after["request_id"].isin(errored), "label"]) <= {"compliance", "refusal", "partial_refusal"}
