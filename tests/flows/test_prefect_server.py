"""End to end on a real ``prefect server start`` (SQLite): deploy the flow from this repository to a
process work pool, run it with a worker, and run a sharded audit on two workers (one shard each)
whose figures equal a single-process run. Against the fake server; every subprocess (and its
children) is killed at the end. Slow (about 2–3 minutes on 2 cores):
``pytest -m slow tests/flows/test_prefect_server.py``. The same on PostgreSQL, with a worker
killed mid-run: tests/flows/test_prefect_postgres.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audit.fakeserver import FakeOpenAI
from tests.support.prefect_server import (
    BIN,
    ROOT,
    Server,
    running_server,
    setup_script,
    workers_of,
    write_config,
)
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.slow

POOL = "test-pool"
LIMIT = "audit-test-provider"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("prefect-server"), setup_script(POOL, {LIMIT: 1})) as srv:
        yield srv


TRIGGER = """
import json, sys
from prefect.deployments import run_deployment
run = run_deployment(sys.argv[1], parameters=json.loads(sys.argv[2]), timeout=0)
print(run.id)
"""


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
    ran_on = workers_of(server, [r["id"] for r in shard_runs])
    assert sorted(ran_on.values()) == ["w0", "w1"], ran_on  # `--limit 1`: one shard per worker
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
