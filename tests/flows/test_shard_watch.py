"""The sharded run's supervisor: which shards it leaves alone (growing journal, heartbeats, waiting
for a worker), which it marks crashed and starts again, and when it gives up. A scripted backend
stands in for Prefect's API; the real one is exercised in tests/flows/test_prefect_postgres.py."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from audit_flows.shard_watch import RunView, Supervisor, heartbeat_seconds


@dataclass
class Scripted:
    """Flow runs whose state, heartbeats and journal size the test sets."""

    states: dict[str, str] = field(default_factory=dict)
    beats: dict[str, float] = field(default_factory=dict)
    started: list[tuple[int, int]] = field(default_factory=list)
    crashed: list[tuple[str, str]] = field(default_factory=list)
    failing_reads: int = 0
    failing_restarts: int = 0
    first_state: str = "RUNNING"

    async def start(self, shard: int, attempt: int) -> str:
        if attempt and self.failing_restarts:
            self.failing_restarts -= 1
            raise ConnectionError("the API is restarting")
        run_id = f"{shard}.{attempt}"
        self.started.append((shard, attempt))
        self.states[run_id] = self.first_state
        return run_id

    async def read(self, run_id: str) -> RunView:
        if self.failing_reads:
            self.failing_reads -= 1
            raise ConnectionError("the API is restarting")
        return RunView(run_id, run_id, self.states[run_id], self.states[run_id].title())

    async def last_heartbeat(self, run_id: str) -> float | None:
        return self.beats.get(run_id)

    async def crash(self, run_id: str, message: str) -> None:
        self.crashed.append((run_id, message))
        self.states[run_id] = "CRASHED"


def supervisor(backend: Scripted, sizes: dict[int, int], *, stall: float = 0.3, restarts: int = 1,
               shards: int = 1) -> tuple[Supervisor, list[str]]:
    logged: list[str] = []
    return Supervisor(backend, shards, lambda: dict(sizes), stall, restarts, poll_seconds=0.02,
                      log=logged.append), logged


async def finish_after(backend: Scripted, run_id: str, seconds: float, state: str = "COMPLETED") -> None:
    await asyncio.sleep(seconds)
    backend.states[run_id] = state


async def test_a_shard_with_a_growing_journal_or_heartbeats_is_left_alone() -> None:
    backend, sizes = Scripted(), {0: 0}
    sup, _ = supervisor(backend, sizes)

    async def live() -> None:  # the journal grows for a while, then only heartbeats come
        for i in range(10):
            sizes[0] = 100 * (i + 1)
            await asyncio.sleep(0.1)
        for _ in range(10):
            backend.beats["0.0"] = time.time()
            await asyncio.sleep(0.1)
        backend.states["0.0"] = "COMPLETED"

    outcomes, _ = await asyncio.gather(sup.run(), live())
    assert [o.state_type for o in outcomes] == ["COMPLETED"]
    assert backend.crashed == [] and backend.started == [(0, 0)] and sup.restarts == []


async def test_a_silent_running_shard_is_crashed_and_started_again() -> None:
    backend, sizes = Scripted(), {0: 0, 1: 0}
    sup, logged = supervisor(backend, sizes, shards=2)
    backend.beats["0.0"] = time.time() - 3600  # its last heartbeat is old news
    runner = asyncio.create_task(sup.run())
    while (0, 1) not in backend.started:
        backend.beats["1.0"] = time.time()  # shard 1 stays alive
        await asyncio.sleep(0.02)
    started = time.monotonic()
    backend.states["0.1"] = backend.states["1.0"] = "COMPLETED"
    outcomes = await asyncio.wait_for(runner, 5)
    assert time.monotonic() - started < 1
    assert [o.id for o in outcomes] == ["0.1", "1.0"] and all(o.state_type == "COMPLETED" for o in outcomes)
    [(run_id, message)] = backend.crashed
    assert run_id == "0.0" and "no journal growth, heartbeat or state change for" in message
    [restart] = sup.restarts
    assert (restart.shard, restart.attempt, restart.old_run, restart.new_run) == (0, 1, "0.0", "0.1")
    assert restart.silent_seconds >= 0.3 and "started again as flow run 0.1" in logged[0]


async def test_a_shard_waiting_for_a_worker_is_never_crashed() -> None:
    backend = Scripted(first_state="SCHEDULED")
    sup, _ = supervisor(backend, {0: 0})
    outcomes, _ = await asyncio.gather(sup.run(), finish_after(backend, "0.0", 1.0))
    assert backend.crashed == [] and outcomes[0].state_type == "COMPLETED"


async def test_a_crash_reported_by_prefect_restarts_at_once_and_restarts_are_bounded() -> None:
    backend = Scripted(first_state="CRASHED")
    sup, logged = supervisor(backend, {0: 0}, stall=600, restarts=2)
    [outcome] = await asyncio.wait_for(sup.run(), 5)
    assert backend.started == [(0, 0), (0, 1), (0, 2)] and backend.crashed == []  # nothing to force
    assert outcome.state_type == "CRASHED" and outcome.id == "0.2"
    assert "no restart left (max_restarts=2)" in logged[-1]


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
async def test_failed_and_cancelled_shards_are_not_restarted(state: str) -> None:
    backend = Scripted(first_state=state)
    sup, _ = supervisor(backend, {0: 0})
    [outcome] = await asyncio.wait_for(sup.run(), 5)
    assert outcome.state_type == state and backend.started == [(0, 0)]


async def test_an_unreachable_api_does_not_stop_the_watch() -> None:
    backend = Scripted(failing_reads=5)
    sup, logged = supervisor(backend, {0: 0}, stall=600)
    outcomes, _ = await asyncio.gather(sup.run(), finish_after(backend, "0.0", 0.3))
    assert outcomes[0].state_type == "COMPLETED" and sum("could not read flow run" in x for x in logged) == 5


def test_heartbeats_are_asked_for_about_four_times_per_stall_window() -> None:
    assert heartbeat_seconds(60) == 30 and heartbeat_seconds(300) == 75 and heartbeat_seconds(3600) == 180


@pytest.mark.usefixtures("prefect_env")
async def test_the_prefect_backend_forces_a_running_flow_run_into_crashed() -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from audit_flows.shard_watch import DeploymentShards

    @flow(name="shard-watch-probe")
    def probe() -> None:
        """Never run: only its flow run is created."""

    async with get_client() as client:
        run = await client.create_flow_run(probe, state=Running())
        backend = DeploymentShards(client, "x/y", "r", 1, lambda shard: {})
        assert (await backend.read(str(run.id))).state_type == "RUNNING"
        assert await backend.last_heartbeat(str(run.id)) is None
        await backend.crash(str(run.id), "refusal-audit: lost")
        view = await backend.read(str(run.id))
    assert (view.state_type, view.message) == ("CRASHED", "refusal-audit: lost")


def test_a_state_the_watch_does_not_act_on_neither_finishes_nor_restarts_the_shard() -> None:
    """A state the watcher does not act on (PAUSED) neither finishes nor restarts the shard."""
    backend = Scripted(first_state="PAUSED")
    sup, _ = supervisor(backend, {0: 0}, stall=0.01)

    async def go() -> Any:
        task = asyncio.create_task(sup.run())
        await asyncio.sleep(0.2)
        backend.states["0.0"] = "COMPLETED"
        return await task

    [outcome] = asyncio.run(go())
    assert outcome.state_type == "COMPLETED" and backend.crashed == []


def test_the_zombie_automation_file_is_a_valid_prefect_automation() -> None:
    import yaml
    from prefect.events.schemas.automations import AutomationCore, Posture

    from tests.support.prefect_server import ROOT

    automation = AutomationCore.model_validate(yaml.safe_load(
        (ROOT / "flows" / "automations" / "crash-zombie-flow-runs.yaml").read_text()))
    trigger = automation.trigger
    assert trigger.posture == Posture.Proactive and trigger.after == {"prefect.flow-run.heartbeat"}  # type: ignore[union-attr]
    assert trigger.within.total_seconds() > 3 * 180  # type: ignore[union-attr]
    assert [a.type for a in automation.actions] == ["change-flow-run-state"]


def test_every_documented_worker_command_takes_one_run_at_a_time() -> None:
    """Shards spread over the workers only with `--limit 1` (docs/prefect.md, 'Worker slots')."""
    import re

    from tests.support.prefect_server import ROOT

    for name in ("docs/prefect.md", "prefect.yaml", "README.md"):
        path = ROOT / name
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for command in re.findall(r"prefect worker start[^\n`|#]*", text):
            assert "--limit 1" in command, f"{name}: {command}"


async def test_a_restart_that_cannot_be_created_is_tried_again_at_the_next_poll() -> None:
    backend = Scripted(first_state="CRASHED", failing_restarts=2)
    sup, logged = supervisor(backend, {0: 0}, stall=600, restarts=1)
    runner = asyncio.create_task(sup.run())
    while (0, 1) not in backend.started:
        await asyncio.sleep(0.02)
    backend.states["0.1"] = "COMPLETED"
    [outcome] = await asyncio.wait_for(runner, 5)
    assert outcome.id == "0.1" and outcome.state_type == "COMPLETED"
    assert sum("could not start it again" in x for x in logged) == 2 and len(sup.restarts) == 1
