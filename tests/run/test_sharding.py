"""Sharded runs: the split, the shard journals, their merge, and the parent flow's handling of a
failed, crashed or silent shard and of a resume, with the shard flow runs in this process (the
real runs on process workers are in tests/flows/test_prefect_server.py and, with a worker killed
mid-run, tests/flows/test_prefect_postgres.py)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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

Mode = Callable[[int, int, int], str]
"""(parent run 1.., shard, attempt 0..) → "run", "fail", "crash" (Prefect reports it crashed) or
"hang" (two requests, then silence: its machine was lost)."""


@dataclass
class LocalShards:
    """The shard flow runs in this process (as subflows) instead of on a work pool: a stand-in for
    Prefect's API, driven by the parent's supervisor exactly like the real one."""

    mode: Mode
    parent_runs: int = 0
    started: list[tuple[int, int]] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    settings: list[Any] = field(default_factory=list)
    runs: dict[str, tuple[str, asyncio.Task[Any] | None]] = field(default_factory=dict)
    plan: Any = None
    retry_errors: bool = False

    def backend(self, client: Any, plan: pl.RunPlan, settings: Any, retry_errors: bool = False) -> LocalShards:
        """Stands in for ``sharding.shard_backend`` (one call per parent flow run)."""
        self.parent_runs += 1
        self.settings.append(settings)
        self.plan, self.retry_errors = plan, retry_errors
        return self

    async def start(self, shard: int, attempt: int) -> str:
        import audit_flows.sharding as sh

        run_id = f"{self.plan.run_id}-shard-{shard}.{attempt}"
        mode = self.mode(self.parent_runs, shard, attempt)
        self.started.append((shard, attempt))
        shards = self.settings[-1].shards
        task = None
        if mode == "run":
            task = asyncio.create_task(sh.audit_shard_flow(str(self.plan.run_dir), shard, shards,
                                                           self.settings[-1].concurrency_limit,
                                                           retry_errors=self.retry_errors, return_state=True))
        elif mode == "hang":
            task = asyncio.create_task(self.hang(shard, shards))
        self.runs[run_id] = (mode, task)
        return run_id

    async def hang(self, shard: int, shards: int) -> None:
        plan = merge.open_shard(self.plan.run_dir, shard, shards)
        await pl.send_all(plan, {}, pending=pl.pending_requests(plan)[:2], policy=FAST)
        await asyncio.Event().wait()  # the machine is gone: no journal growth, no heartbeat

    async def read(self, run_id: str) -> Any:
        from audit_flows.shard_watch import RunView

        mode, task = self.runs[run_id]
        if run_id in self.crashed or mode == "crash":
            return RunView(run_id, run_id, "CRASHED", "Crashed", "process exited with -9")
        if mode == "fail":
            return RunView(run_id, run_id, "FAILED", "Failed", "worker lost")
        if task is None or not task.done():
            return RunView(run_id, run_id, "RUNNING", "Running")
        state = task.result()
        return RunView(run_id, run_id, state.type.value, state.name, state.message or "")

    async def last_heartbeat(self, run_id: str) -> float | None:
        """A live shard process beats (Prefect's heartbeat thread); a lost or failed one does not."""
        mode, task = self.runs[run_id]
        alive = mode == "run" and task is not None and not task.done() and run_id not in self.crashed
        return time.time() if alive else None

    async def crash(self, run_id: str, message: str) -> None:
        self.crashed.append(run_id)
        _, task = self.runs[run_id]
        if task is not None:
            task.cancel()


def local_shards(monkeypatch: pytest.MonkeyPatch, mode: Mode = lambda run, shard, attempt: "run") -> LocalShards:
    """Run the parent's shards in this process, polled every 50 ms."""
    import audit_flows.sharding as sh

    shards = LocalShards(mode)
    monkeypatch.setattr(sh, "shard_backend", shards.backend)
    monkeypatch.setattr(sh, "POLL_SECONDS", 0.05)
    return shards


def sh_flow(**params: Any) -> Any:
    """The parent flow (imported when used: Prefect is slow to import)."""
    import audit_flows.sharding as sh

    return sh.sharded_audit_flow(**params)


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
    from audit.errors import AuditError

    shards = local_shards(monkeypatch, lambda run, shard, attempt: "fail" if (run, shard) == (1, 1) else "run")
    cfg = config(tmp_path, fake_server.url, "reports").public_dict()
    run_dir = tmp_path / "reports" / "sh"
    with pytest.raises(AuditError, match=r"shard 1 \(sh-shard-1\.0: Failed: worker lost\) did not complete.*"
                                         rf"resume with: python -m flows.sharding --resume {re.escape(str(run_dir))} "):
        asyncio.run(sh_flow(config=cfg, run_id="sh", shards=2))
    assert not (run_dir / "summary.csv").exists()
    assert shards.started == [(0, 0), (1, 0)]  # a failed shard is an error to read: not restarted
    first = len(fake_server.state.log)
    assert 0 < first < 20
    result = asyncio.run(sh_flow(resume_dir=str(run_dir), shards=3))
    assert len(fake_server.state.log) == 20  # nothing sent twice, though the shards changed
    assert result["sent"] == 20 - first and result["run_id"] == "sh" and result["restarts"] == []
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
    local_shards(monkeypatch)
    cfg = config(tmp_path, fake_server.url, "reports").public_dict()
    cfg["targets"][0]["max_retries"] = 0
    cfg["max_error_rate"] = None  # the outage is staged: the run must finish to be resumed
    cfg["max_error_rate"] = None  # the outage is staged: no error threshold (the default is 0.05)
    fake_server.script = {"taxes": "status:500"}  # an outage for the 'taxes' prompts
    asyncio.run(sh_flow(config=cfg, run_id="re", shards=2, check_drift=False))
    run_dir = tmp_path / "reports" / "re"
    before = pd.read_csv(run_dir / "responses.csv")
    errored = set(before.loc[before["error"].notna(), "request_id"])
    assert len(errored) == 4 and len(fake_server.state.log) == 20
    fake_server.script = {}  # the outage is over
    asyncio.run(sh_flow(resume_dir=str(run_dir), shards=3, retry_errors=True, check_drift=False))
    assert len(fake_server.state.log) == 24  # only the four errors were sent again
    after = pd.read_csv(run_dir / "responses.csv")
    assert len(after) == 20 and after["error"].isna().all()
    assert set(after.loc[after["request_id"].isin(errored), "label"]) <= {"compliance", "refusal", "partial_refusal"}


@pytest.mark.usefixtures("prefect_env")
def test_a_silent_shard_is_marked_crashed_and_started_again_without_sending_anything_twice(
        tmp_path: Path, fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    shards = local_shards(monkeypatch, lambda run, shard, attempt: "hang" if (shard, attempt) == (1, 0) else "run")
    cfg = config(tmp_path, fake_server.url, "reports").public_dict()
    result = asyncio.run(sh_flow(config=cfg, run_id="lost", shards=2, stall_seconds=1.0, check_drift=False))
    assert shards.crashed == ["lost-shard-1.0"] and sorted(shards.started) == [(0, 0), (1, 0), (1, 1)]
    run_dir = tmp_path / "reports" / "lost"
    ids = [r["request_id"] for r in jr.iter_records(run_dir / "responses.jsonl")]
    assert len(ids) == len(set(ids)) == 20  # every request once in the merged journal
    assert len(fake_server.state.log) == 20  # the lost shard's two answers were kept, not re-sent
    [restart] = result["restarts"]
    assert restart["shard"] == 1 and restart["attempt"] == 1 and restart["old_run"] == "lost-shard-1.0"
    assert restart["new_run"] == "lost-shard-1.1" and restart["silent_seconds"] >= 1.0
    assert "no journal growth, heartbeat or state change" in restart["reason"]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["orchestration"]["restarts"] == [restart]


@pytest.mark.usefixtures("prefect_env")
def test_a_shard_that_keeps_crashing_fails_the_run_with_the_resume_command(
        tmp_path: Path, fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    from audit.errors import AuditError

    shards = local_shards(monkeypatch, lambda run, shard, attempt: "crash" if shard == 0 else "run")
    cfg = config(tmp_path, fake_server.url, "reports").public_dict()
    run_dir = (tmp_path / "reports" / "cr").resolve()
    with pytest.raises(AuditError) as info:
        asyncio.run(sh_flow(config=cfg, run_id="cr", shards=2, max_restarts=1, stall_seconds=600))
    assert str(info.value).startswith("shard 0 (cr-shard-0.1: Crashed: its flow run crashed (process exited with -9))")
    assert f"resume with: python -m flows.sharding --resume {run_dir} " in str(info.value)
    assert shards.started.count((0, 0)) == shards.started.count((0, 1)) == 1 and (0, 2) not in shards.started
    assert len(json.loads((run_dir / "run.json").read_text())["orchestration"]["restarts"]) == 1


@pytest.mark.usefixtures("prefect_env")
def test_a_resume_reuses_the_runs_orchestration_settings(tmp_path: Path, fake_server: FakeOpenAI,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    from audit.errors import AuditError

    async def make_limit() -> None:
        async with get_client() as client:
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="resume-test", limit=2))

    asyncio.run(make_limit())
    shards = local_shards(monkeypatch, lambda run, shard, attempt: "fail" if (run, shard) == (1, 2) else "run")
    cfg = config(tmp_path, fake_server.url, "reports").public_dict()
    with pytest.raises(AuditError, match="shard 2"):
        asyncio.run(sh_flow(config=cfg, run_id="rs", shards=3, concurrency_limit="resume-test",
                            stall_seconds=120, max_restarts=1))
    run_dir = tmp_path / "reports" / "rs"
    saved = json.loads((run_dir / "run.json").read_text())["orchestration"]
    assert saved == {"kind": "sharded", "shards": 3, "shard_deployment": "refusal-audit-shard/shard",
                     "concurrency_limit": "resume-test", "stall_seconds": 120, "max_restarts": 1, "restarts": []}
    asyncio.run(sh_flow(resume_dir=str(run_dir)))  # as `python -m flows.sharding --resume DIR` does
    assert shards.settings[1] == shards.settings[0]  # the resumed shards ran with the run's limit
    assert shards.started[3:] == [(0, 0), (1, 0), (2, 0)] and len(fake_server.state.log) == 20
    asyncio.run(sh_flow(resume_dir=str(run_dir), concurrency_limit="", shards=2))  # a resume may change them
    assert shards.settings[2] == merge.ShardSettings(2, "refusal-audit-shard/shard", None, 120, 1)


def test_orchestration_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="shards must be at least 1"):
        merge.resolve_settings(None, shards=0)
    with pytest.raises(ConfigError, match="stall_seconds must be positive"):
        merge.resolve_settings(None, stall_seconds=0)
    with pytest.raises(ConfigError, match="max_restarts"):
        merge.resolve_settings(None, max_restarts=-1)
    assert merge.resolve_settings(None, shards=None) == merge.ShardSettings()
