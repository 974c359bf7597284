"""End to end on a real ``prefect server start``: deploy the flow from this repository to a process
work pool, run it with a worker, and run a sharded audit on two workers whose figures equal a
single-process run. Against the fake server; every subprocess (and its children) is killed at
the end. Slow (about 2–3 minutes on 2 cores): ``pytest -m slow tests/test_prefect_server.py``.
"""

from __future__ import annotations

import json
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
import numpy as np
import pandas as pd
import pytest

from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POOL = "test-pool"
LIMIT = "audit-test-provider"


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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(home), "PREFECT_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_RUNNER_POLL_FREQUENCY": "2",
                "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3",
                # three runs ahead per deployment, not 100: less SQLite writing while the tests query
                "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_RUNS": "3", "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    srv = Server(url, env, home)
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
        srv.run(sys.executable, "-c", SETUP)
        yield srv
    finally:
        for p in reversed(srv.procs):
            if p.returncode is None:  # not already stopped (and reaped) by a test
                kill_tree(p)
    leftovers = [p for p in srv.procs if p.poll() is None]
    assert not leftovers


# One client process: the process work pool, a global concurrency limit, and both flows
# deployed from this repository's source (what `prefect deploy` does with prefect.yaml).
# RunnerDeployment.apply() registers a deployment; Flow.deploy() would also count the pool's
# online workers, a request prefect 3.8's server rejects (422) under fastapi 0.154.
SETUP = f"""
import asyncio
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate

async def setup():
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name={POOL!r}, type="process"))
        await client.create_work_pool(WorkPoolCreate(name="audit-pool", type="process"))  # prefect.yaml's
        await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name={LIMIT!r}, limit=1))
    for entrypoint, name in (("flows/audit_flow.py:audit_flow", "e2e"), ("flows/sharding.py:audit_shard_flow", "shard")):
        source = await flow.from_source(source={str(ROOT)!r}, entrypoint=entrypoint)
        await (await source.ato_deployment(name=name, work_pool_name={POOL!r})).apply()

asyncio.run(setup())
"""

TRIGGER = """
import json, sys
from prefect.deployments import run_deployment
run = run_deployment(sys.argv[1], parameters=json.loads(sys.argv[2]), timeout=0)
print(run.id)
"""


def write_config(path: Path, prompts: Path, url: str, reports: Path) -> Path:
    path.write_text(f'prompts = "{prompts}"\nreports_dir = "{reports}"\nbatch_size = 6\n'
                    f'[[targets]]\nname = "fake"\nbase_url = "{url}"\nmodel = "fake-model"\nconcurrency = 4\n')
    return path


def test_deployed_flow_runs_on_a_process_worker(server: Server, tmp_path: Path, fake_server: FakeOpenAI) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    cfg = write_config(tmp_path / "audit.toml", prompts, fake_server.url, tmp_path / "reports")
    params = {"config_file": str(cfg), "run_id": "srv1"}
    run_id = server.run(sys.executable, "-c", TRIGGER, "refusal-audit/e2e", json.dumps(params)).strip().splitlines()[-1]
    assert server.api("GET", f"/flow_runs/{run_id}")["state"]["type"] == "SCHEDULED"
    worker = server.spawn("worker-once", str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type",
                          "process", "--run-once")
    worker.wait(timeout=300)  # on a timeout, teardown kills it and the flow run it started
    run = server.api("GET", f"/flow_runs/{run_id}")
    assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{server.log('worker-once')}"
    run_dir = tmp_path / "reports" / "srv1"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert (run_dir / "report.html").is_file() and len(pd.read_csv(run_dir / "responses.csv")) == 20
    assert len(fake_server.state.log) == 20
    artifacts = server.api("POST", "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    assert {"table", "markdown", "progress"} <= {a["type"] for a in artifacts}


def test_sharded_run_on_two_workers_equals_a_single_process_run(server: Server, tmp_path: Path,
                                                                fake_server: FakeOpenAI) -> None:
    from audit import run as pl
    from audit.config import load_config

    prompts = mini_set(tmp_path / "set.jsonl", refuse_b=("guns", "energy"), refuse_both=("taxes",))
    cfg = write_config(tmp_path / "audit.toml", prompts, fake_server.url, tmp_path / "sharded")
    workers = [server.spawn(f"worker{k}", str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type",
                            "process", "--limit", "1", "--name", f"w{k}") for k in range(2)]
    out = server.run(sys.executable, "-m", "flows.sharding", str(cfg), "--shards", "2", "--run-id", "sh1",
                     "--concurrency-limit", LIMIT, timeout=400)
    for w in workers:
        assert w.poll() is None, server.log("worker0") + server.log("worker1")
    for w in workers:
        server.stop(w)
    run_dir = tmp_path / "sharded" / "sh1"
    assert out.strip().splitlines()[-1] == str(run_dir)
    shard_runs = server.api("POST", "/flow_runs/filter", {"flows": {"name": {"any_": ["refusal-audit-shard"]}}})
    assert sorted(r["parameters"]["shard"] for r in shard_runs) == [0, 1]
    assert all(r["state"]["type"] == "COMPLETED" for r in shard_runs)
    shard_sizes = [sum(1 for _ in (run_dir / "shards" / str(k) / "responses.jsonl").open()) for k in range(2)]
    assert sum(shard_sizes) == 20 and min(shard_sizes) > 0
    assert server.api("POST", "/v2/concurrency_limits/filter", {})[0]["active_slots"] == 0

    single = load_config(write_config(tmp_path / "single.toml", prompts, fake_server.url, tmp_path / "single"), {}, {})
    plan, _ = pl.run_audit(single, {"fake": None})
    sharded_summary = pd.read_csv(run_dir / "summary.csv").sort_values(["target", "metric"], ignore_index=True)
    single_summary = pd.read_csv(plan.run_dir / "summary.csv").sort_values(["target", "metric"], ignore_index=True)
    assert list(sharded_summary["metric"]) == list(single_summary["metric"])
    for col in ("estimate", "ci_low", "ci_high", "k", "n", "p_value"):
        assert np.allclose(sharded_summary[col], single_summary[col], equal_nan=True), col
    sharded_responses = pd.read_csv(run_dir / "responses.csv").set_index("request_id").sort_index()
    single_responses = pd.read_csv(plan.run_dir / "responses.csv").set_index("request_id").sort_index()
    assert sharded_responses["label"].equals(single_responses["label"])


def test_prefect_deploy_registers_prefect_yaml_and_the_server_schedules_its_runs(server: Server) -> None:
    out = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], env=server.env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=False)
    text = out.stdout + out.stderr
    assert "Traceback" not in text and out.returncode == 0, (
        "`prefect deploy --all` failed; a 422 on workers/filter means fastapi >= 0.151, whose explicit-null "
        f"validation prefect 3.8's server does not expect (pin fastapi<0.151):\n{text[-3000:]}")
    names = {d["name"] for d in server.api("POST", "/deployments/filter", {})}
    assert {"nightly", "weekly", "shard", "sharded-monthly"} <= names
    nightly = next(d for d in server.api("POST", "/deployments/filter", {}) if d["name"] == "nightly")
    assert nightly["parameters"] == {"config_file": "audit.toml", "config": {"sample_pairs": 100}}
    deadline = time.monotonic() + 120
    runs: list[dict[str, Any]] = []
    while not runs and time.monotonic() < deadline:
        time.sleep(2)
        runs = server.api("POST", "/flow_runs/filter", {"deployments": {"id": {"any_": [nightly["id"]]}}})
    assert runs, ("the server's scheduler created no run of the nightly deployment; 'Can't evaluate bulk DML' "
                  "in its log means SQLAlchemy 2.1, which prefect 3.8's scheduler does not support "
                  f"(pin sqlalchemy<2.1):\n{server.log('server')[-2000:]}")
    assert all(r["state"]["type"] == "SCHEDULED" and r["expected_start_time"][11:16] == "02:00" for r in runs)
