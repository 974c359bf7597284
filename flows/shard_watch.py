"""Keep a sharded run's shards going: start each shard's flow run, watch it, and start it again
when its machine is lost.

A shard that loses its worker (a SIGKILL, a crashed machine, an evicted container) stays
"Running" in Prefect for ever: nothing reports its end. The parent therefore watches each shard
for signs of life and, when a running shard shows none for ``stall_seconds``, forces its flow
run into ``Crashed`` through the API and starts a new flow run of the same shard. The signs are:

- its journal grew (``shards/<k>/responses.jsonl``: one stat per poll, on the shared folder);
- its flow run sent a heartbeat (Prefect's ``prefect.flow-run.heartbeat`` events; the parent asks
  every shard run for one each ``heartbeat_seconds`` through the job variable
  ``env.PREFECT_FLOWS_HEARTBEAT_FREQUENCY``). Heartbeats come from a thread of the shard's process,
  so a shard waiting on a slow provider or a busy concurrency limit is alive, not stalled;
- its state changed.

A shard Prefect reports ``Crashed`` itself (its worker saw the process die) is started again at
once. A restarted shard sends only what its journal lacks: requests are content-hashed and the
merge is a union by request id, so nothing is answered twice in the merged journal; only the
requests that were in flight when the machine died are sent again. Each shard is started again
at most ``max_restarts`` times; ``Failed`` and ``Cancelled`` shards are not (a failure is an
error to read, not a lost machine).

The Prefect calls are behind :class:`ShardBackend`, so the tests can run shards in-process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

MIN_HEARTBEAT_SECONDS = 30
"""Prefect's smallest flow-run heartbeat interval (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``)."""
ACTIVE = ("PENDING", "RUNNING")
"""States whose flow run should show signs of life (SCHEDULED and LATE wait for a worker)."""
GIVE_UP = ("FAILED", "CANCELLED", "CANCELLING")


def heartbeat_seconds(stall_seconds: float) -> int:
    """How often a shard run should send a heartbeat: about four per stall window, 30–180 s."""
    return int(min(180, max(MIN_HEARTBEAT_SECONDS, stall_seconds // 4)))


@dataclass(frozen=True)
class RunView:
    """What the watcher needs of a flow run."""

    id: str
    name: str
    state_type: str
    state_name: str
    message: str = ""
    changed_at: float | None = None
    """When the state was entered (epoch seconds)."""


class ShardBackend(Protocol):
    """Starts and inspects shard flow runs (Prefect's API, or an in-process stand-in)."""

    async def start(self, shard: int, attempt: int) -> str:
        """Start attempt ``attempt`` (0 = the first) of shard ``shard``; its flow run id."""
        ...

    async def read(self, run_id: str) -> RunView:
        """The flow run's current state."""
        ...

    async def last_heartbeat(self, run_id: str) -> float | None:
        """When the flow run last sent a heartbeat (epoch seconds), if ever."""
        ...

    async def crash(self, run_id: str, message: str) -> None:
        """Force the flow run into Crashed."""
        ...


@dataclass
class Watch:
    """One shard: its current flow run and what the watcher has seen of it."""

    shard: int
    run_id: str
    attempt: int = 0
    size: int = -1
    last_sign: float = field(default_factory=time.time)
    last_state: tuple[str, float | None] = ("", None)
    final: RunView | None = None


@dataclass
class Restart:
    """A shard started again: which, why, and how long it had been silent."""

    shard: int
    attempt: int
    old_run: str
    new_run: str
    reason: str
    silent_seconds: float
    at: str

    def record(self) -> dict[str, Any]:
        """For run.json and the flow's result."""
        return {"shard": self.shard, "attempt": self.attempt, "old_run": self.old_run, "new_run": self.new_run,
                "reason": self.reason, "silent_seconds": round(self.silent_seconds, 1), "at": self.at}


@dataclass
class Supervisor:
    """Runs every shard to an end: Completed, or given up on (Failed, Cancelled, out of restarts)."""

    backend: ShardBackend
    shards: int
    sizes: Callable[[], dict[int, int]]
    stall_seconds: float
    max_restarts: int
    poll_seconds: float = 5.0
    on_restart: Callable[[Restart], None] | None = None
    log: Callable[[str], None] = print
    watches: list[Watch] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)

    async def run(self) -> list[RunView]:
        """Start the shards and watch them until each has an outcome; the outcomes in shard order."""
        self.watches = [Watch(k, await self.backend.start(k, 0)) for k in range(self.shards)]
        while any(w.final is None for w in self.watches):
            await asyncio.sleep(self.poll_seconds)
            sizes = self.sizes()
            for w in self.watches:
                if w.final is None:
                    await self.step(w, sizes.get(w.shard, 0))
        return [w.final for w in self.watches if w.final is not None]

    async def step(self, w: Watch, size: int) -> None:
        """One look at one shard: note its signs of life, then finish, wait, or restart it."""
        now = time.time()
        if size != w.size:
            w.size, w.last_sign = size, now
        try:
            view = await self.backend.read(w.run_id)
        except Exception as exc:  # noqa: BLE001 - an API hiccup: look again at the next poll
            self.log(f"shard {w.shard}: could not read flow run {w.run_id} ({type(exc).__name__}: {exc})")
            return
        if (view.state_type, view.changed_at) != w.last_state:
            w.last_state, w.last_sign = (view.state_type, view.changed_at), now
        if view.state_type == "COMPLETED" or view.state_type in GIVE_UP:
            w.final = view
        elif view.state_type == "CRASHED":
            await self.restart(w, view, f"its flow run crashed ({view.message or view.state_name})", now)
        elif view.state_type in ACTIVE and now - w.last_sign > self.stall_seconds:
            beat = await self._heartbeat(w.run_id)
            if beat is not None:
                w.last_sign = max(w.last_sign, min(beat, now))
            if now - w.last_sign > self.stall_seconds:
                await self.stalled(w, view, now)

    async def _heartbeat(self, run_id: str) -> float | None:
        try:
            return await self.backend.last_heartbeat(run_id)
        except Exception as exc:  # noqa: BLE001 - no answer is no sign of life, not a reason to stop
            self.log(f"could not read the heartbeats of flow run {run_id} ({type(exc).__name__}: {exc})")
            return None

    async def stalled(self, w: Watch, view: RunView, now: float) -> None:
        """Mark a silent shard crashed (forced: its process cannot report any more) and restart it."""
        silent = now - w.last_sign
        reason = (f"no journal growth, heartbeat or state change for {silent:.0f} s "
                  f"(stall_seconds={self.stall_seconds:g}): its worker or machine was lost")
        try:
            await self.backend.crash(w.run_id, f"refusal-audit: {reason}")
        except Exception as exc:  # noqa: BLE001 - try again at the next poll
            self.log(f"shard {w.shard}: could not mark flow run {w.run_id} crashed ({type(exc).__name__}: {exc})")
            return
        await self.restart(w, view, reason, now)

    async def restart(self, w: Watch, view: RunView, reason: str, now: float) -> None:
        """Start the shard again, or give up on it when it has used its restarts."""
        if w.attempt >= self.max_restarts:
            self.log(f"shard {w.shard}: {reason}; no restart left (max_restarts={self.max_restarts})")
            w.final = RunView(view.id, view.name, "CRASHED", "Crashed", reason, view.changed_at)
            return
        try:
            new_run = await self.backend.start(w.shard, w.attempt + 1)
        except Exception as exc:  # noqa: BLE001 - the run is Crashed now: the next poll tries again
            self.log(f"shard {w.shard}: could not start it again ({type(exc).__name__}: {exc}); retrying")
            return
        restart = Restart(w.shard, w.attempt + 1, w.run_id, new_run, reason, now - w.last_sign,
                          dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
        self.log(f"shard {w.shard}: {reason}; started again as flow run {new_run} "
                 f"(restart {w.attempt + 1} of at most {self.max_restarts})")
        self.restarts.append(restart)
        if self.on_restart:
            self.on_restart(restart)
        w.run_id, w.attempt, w.last_sign, w.last_state = new_run, w.attempt + 1, time.time(), ("", None)


@dataclass
class DeploymentShards:
    """The shards as flow runs of the shard deployment, on its work pool (Prefect's API).

    ``client`` is an open ``PrefectClient``; ``parameters(shard)`` are the shard flow's parameters.
    """

    client: Any
    deployment: str
    run_id: str
    shards: int
    parameters: Callable[[int], dict[str, Any]]
    heartbeat_every: int = 180
    tags: tuple[str, ...] = ("refusal-audit", "shard")

    async def start(self, shard: int, attempt: int) -> str:
        """A new flow run of the deployment for ``shard`` (linked to the parent as a subflow)."""
        from prefect.deployments import arun_deployment

        name = f"{self.run_id}-shard-{shard}-of-{self.shards}" + (f"-restart-{attempt}" if attempt else "")
        run = await arun_deployment(self.deployment, client=self.client, parameters=self.parameters(shard),
                                    timeout=0, flow_run_name=name, tags=list(self.tags),
                                    job_variables={"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(self.heartbeat_every)}})
        return str(run.id)

    async def read(self, run_id: str) -> RunView:
        """The flow run's state as the API has it."""
        run = await self.client.read_flow_run(run_id)
        state = run.state
        if state is None:
            return RunView(run_id, run.name, "SCHEDULED", "Scheduled")
        return RunView(run_id, run.name, state.type.value, state.name or state.type.value, state.message or "",
                       state.timestamp.timestamp() if state.timestamp else None)

    async def last_heartbeat(self, run_id: str) -> float | None:
        """The newest ``prefect.flow-run.heartbeat`` event of the flow run (the last day's)."""
        from prefect.events.filters import EventFilter

        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        query = EventFilter.model_validate({"occurred": {"since": since},
                                            "event": {"name": ["prefect.flow-run.heartbeat"]},
                                            "resource": {"id": [f"prefect.flow-run.{run_id}"]}})
        page = await self.client.read_events(filter=query, limit=1)
        return max((e.occurred.timestamp() for e in page.events), default=None)

    async def crash(self, run_id: str, message: str) -> None:
        """Force the flow run into Crashed (its process cannot report its own end any more)."""
        from prefect.states import Crashed

        await self.client.set_flow_run_state(run_id, Crashed(message=message), force=True)
