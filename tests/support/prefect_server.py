"""A real ``prefect server start`` for the slow end-to-end tests, with the subprocesses around it
(workers, flow-run processes) started in their own sessions and killed with all their children.

Used by tests/flows/test_prefect_server.py (SQLite) and tests/flows/test_prefect_postgres.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), children first found first."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process and all its descendants (by pid), then SIGKILL what is left."""
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.wait(timeout=10)


@dataclass
class Server:
    """A running ``prefect server start`` and what its clients need."""

    url: str
    env: dict[str, str]
    home: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-running subprocess (killed with its children at the end)."""
        log = (self.home / f"{name}.log").open("wb")
        proc = subprocess.Popen(list(args), env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 300) -> str:
        """Run a command to its end; its output, or a failure showing it."""
        out = subprocess.run(list(args), check=False, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, f"{args} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out.stdout

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, patience: float = 180) -> Any:
        """One API call. A busy server on a loaded 2-core machine (SQLite writes by the scheduler, polling
        workers) can take longer than a read timeout: retry transport errors for ``patience`` seconds."""
        deadline = time.monotonic() + patience
        while True:
            try:
                response = httpx.request(method, f"{self.url}{path}", json=body, timeout=60)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)
        response.raise_for_status()
        return response.json()

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop a long-running subprocess before teardown (fewer pollers on the server)."""
        kill_tree(proc)


def server_env(home: Path, url: str, **extra: str) -> dict[str, str]:
    """The environment of the server and its clients: this process's, without its PREFECT_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(home), "PREFECT_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_RUNNER_POLL_FREQUENCY": "2",
                "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3",
                # three runs ahead per deployment, not 100: less database writing while the tests query
                "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "3", "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **extra})
    return env


@contextlib.contextmanager
def running_server(home: Path, setup: str, **extra_env: str) -> Iterator[Server]:
    """``prefect server start`` on a free port, set up by the Python script ``setup``; every
    subprocess spawned through the server object is killed (with its children) at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    srv = Server(url, server_env(home, url, **extra_env), home)
    proc = srv.spawn("server", str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                     "--no-ui", "--analytics-off")
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"prefect server exited:\n{srv.log('server')}"
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"prefect server did not start:\n{srv.log('server')}"
            time.sleep(1)
        srv.run(sys.executable, "-c", setup)
        yield srv
    finally:
        for p in reversed(srv.procs):
            if p.returncode is None:  # not already stopped (and reaped) by a test
                kill_tree(p)
    leftovers = [p for p in srv.procs if p.poll() is None]
    assert not leftovers


def setup_script(pool: str, limits: dict[str, int] | None = None) -> str:
    """One client process: a process work pool (and prefect.yaml's audit-pool), global concurrency
    limits, and both flows deployed from this repository's source (what ``prefect deploy`` does
    with prefect.yaml). RunnerDeployment.apply() registers a deployment; Flow.deploy() would also
    count the pool's online workers, a request prefect 3.8's server rejects (422) under fastapi 0.154."""
    return f"""
import asyncio
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate

async def setup():
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name={pool!r}, type="process"))
        await client.create_work_pool(WorkPoolCreate(name="audit-pool", type="process"))  # prefect.yaml's
        for name, limit in {dict(limits or {})!r}.items():
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
    for entrypoint, name in (("flows/audit_flow.py:audit_flow", "e2e"), ("flows/sharding.py:audit_shard_flow", "shard")):
        source = await flow.from_source(source={str(ROOT)!r}, entrypoint=entrypoint)
        await (await source.ato_deployment(name=name, work_pool_name={pool!r})).apply()

asyncio.run(setup())
"""


def write_config(path: Path, prompts: Path, url: str, reports: Path, targets: int = 1, concurrency: int = 4) -> Path:
    """An audit.toml for the fake server: ``targets`` targets (fake, fake2, …) on it."""
    text = f'prompts = "{prompts}"\nreports_dir = "{reports}"\nbatch_size = 6\n'
    for k in range(targets):
        name = "fake" if k == 0 else f"fake{k + 1}"
        text += (f'[[targets]]\nname = "{name}"\nbase_url = "{url}"\nmodel = "fake-model"\n'
                 f"concurrency = {concurrency}\n")
    path.write_text(text)
    return path


def workers_of(server: Server, flow_run_ids: list[str]) -> dict[str, str]:
    """Which worker (by name) submitted each flow run: the workers' own
    ``prefect.worker.submitted-flow-run`` events, whose resource is the worker and whose related
    resources include the flow run."""
    events = server.api("POST", "/events/filter", {"filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}},
                                                   "limit": 50})["events"]
    out = {}
    for event in events:
        worker = event["resource"].get("prefect.resource.name", "")
        for related in event.get("related", []):
            run_id = related.get("prefect.resource.id", "").removeprefix("prefect.flow-run.")
            if related.get("prefect.resource.role") == "flow-run" and run_id in flow_run_ids:
                out[run_id] = worker
    return out
