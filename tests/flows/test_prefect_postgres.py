"""The production setup end to end: a real PostgreSQL (Debian's ``postgresql`` package, started
here in a temporary data directory on a free port), ``prefect server start`` on it, a process
work pool with three workers (``--limit 1``), and a sharded audit against the fake server during
which one worker and its shard process are killed with SIGKILL. The audit must finish by itself:
the parent notices the silent shard, marks it crashed and starts it again, and the merged journal
holds every request exactly once.

Slow (about 3–4 minutes on 2 cores): ``pytest -m slow tests/flows/test_prefect_postgres.py -s``
(``-s`` shows the figures of the kill). PostgreSQL comes from ``scripts/install-postgres.sh``,
which ``make test`` runs; without it the test is skipped, except in CI, where it fails.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audit.fakeserver import FakeOpenAI
from audit.run import _shards as merge
from audit.send import _journal as jr
from tests.support.prefect_server import (
    BIN,
    Server,
    descendants,
    free_port,
    running_server,
    setup_script,
    workers_of,
    write_config,
)
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.slow

POOL = "pg-pool"
SHARDS = 3
STALL = 60  # --stall-seconds: the smallest the command accepts (two 30 s heartbeats)


@dataclass
class Postgres:
    """A running PostgreSQL server: its binaries, data directory and Prefect's connection URL."""

    bin: Path
    data: Path
    port: int
    as_owner: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/prefect"

    def run(self, tool: str, *args: str) -> str:
        out = subprocess.run([*self.as_owner, str(self.bin / tool), *args], capture_output=True, text=True,
                             timeout=120, check=False, cwd="/")
        assert out.returncode == 0, f"{tool} {args} exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        return out.stdout

    def sql(self, query: str) -> str:
        return self.run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "prefect",
                        "-tAc", query).strip()


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian: /usr/lib/postgresql/<version>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """PostgreSQL in a temporary data directory, as the ``postgres`` user when we are root (the
    server refuses to run as root); trust authentication on 127.0.0.1 only."""
    binaries = postgres_bin()
    if binaries is None:
        message = "PostgreSQL is not installed: run scripts/install-postgres.sh (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="refusal-audit-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_owner = ["runuser", "-u", "postgres", "--"]
    pg = Postgres(binaries, base / "data", free_port(), as_owner)
    try:
        pg.run("initdb", "-D", str(pg.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions")
        # a test database: no fsync (the data are thrown away); the rest as a production server
        options = f"-p {pg.port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off -c synchronous_commit=off"
        pg.run("pg_ctl", "-D", str(pg.data), "-l", str(base / "postgres.log"), "-w", "-t", "120", "-o", options, "start")
        pg.run("createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "prefect")
        yield pg
    finally:
        if (pg.data / "postmaster.pid").exists():
            subprocess.run([*as_owner, str(binaries / "pg_ctl"), "-D", str(pg.data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=120, check=False, cwd="/")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``prefect server start`` on the PostgreSQL above, as docs/prefect.md says to run it."""
    home = tmp_path_factory.mktemp("prefect-pg")
    with running_server(home, setup_script(POOL), PREFECT_API_DATABASE_CONNECTION_URL=postgres.url) as srv:
        yield srv


def flow_run_env(pid: int) -> str | None:
    """The flow run a process runs (its PREFECT__FLOW_RUN_ID), if any."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"PREFECT__FLOW_RUN_ID="):
            return item.split(b"=", 1)[1].decode()
    return None


def shard_runs(server: Server) -> list[dict[str, Any]]:
    return list(server.api("POST", "/flow_runs/filter", {"flows": {"name": {"any_": ["refusal-audit-shard"]}}}))


def kill_a_worker_mid_shard(server: Server, workers: list[subprocess.Popen[bytes]], run_dir: Path,
                            parent: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Wait until some shard has answered a few of its requests but not all, then SIGKILL the
    worker running it and the shard's process (all the worker's processes at once)."""
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        assert parent.poll() is None, server.log("parent")
        runs = {r["id"]: r for r in shard_runs(server)}
        for w, worker in enumerate(workers):
            tree = descendants(worker.pid)
            for pid in tree:
                run = runs.get(flow_run_env(pid) or "")
                if run is None:
                    continue
                shard = run["parameters"]["shard"]
                lines = merge.shard_counts(run_dir).get(shard, 0)
                if 2 <= lines <= 6:  # each shard has about 13 requests, answered in about 2 s each
                    for victim in [worker.pid, *tree]:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(victim, signal.SIGKILL)
                    worker.wait(timeout=30)
                    return {"worker": f"w{w}", "shard": shard, "run": run["id"], "lines_at_kill": lines,
                            "killed_at": time.time()}
        time.sleep(0.3)
    raise AssertionError(f"no shard was caught mid-run:\n{server.log('parent')}")


def test_a_sharded_audit_on_postgres_survives_a_killed_worker(server: Server, postgres: Postgres,
                                                             tmp_path: Path) -> None:
    with FakeOpenAI(default="slow:2") as fake:
        prompts = mini_set(tmp_path / "set.jsonl")
        cfg = write_config(tmp_path / "audit.toml", prompts, fake.url, tmp_path / "reports", targets=2, concurrency=1)
        workers = [server.spawn(f"worker{k}", str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type",
                                "process", "--limit", "1", "--name", f"w{k}") for k in range(3)]
        started = time.time()
        parent = server.spawn("parent", sys.executable, "-m", "flows.sharding", str(cfg), "--shards", str(SHARDS),
                              "--run-id", "pg1", "--stall-seconds", str(STALL), "--max-restarts", "2")
        run_dir = tmp_path / "reports" / "pg1"
        kill = kill_a_worker_mid_shard(server, workers, run_dir, parent)
        try:
            parent.wait(timeout=600)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the audit did not finish by itself:\n{server.log('parent')}") from None
        finished = time.time()
        sent = len(fake.state.log)
    assert parent.returncode == 0, server.log("parent")
    out = server.log("parent").strip().splitlines()
    assert out[-1] == str(run_dir) and any("refusal_rate" in line for line in out)  # the headline table

    # every request answered exactly once in the merged journal; only what was in flight re-sent
    records = list(jr.iter_records(run_dir / "responses.jsonl"))
    ids = [r["request_id"] for r in records]
    assert len(ids) == len(set(ids)) == 40 and not any(r.get("error") for r in records)
    assert len(pd.read_csv(run_dir / "responses.csv")) == 40
    resent = sent - 40
    assert 0 <= resent <= 2  # at most one request in flight per target (concurrency 1) when killed

    # the parent noticed the silence, forced the shard's run into Crashed and started it again
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed"
    [restart] = meta["orchestration"]["restarts"]
    assert restart["shard"] == kill["shard"] and restart["old_run"] == kill["run"]
    assert "no journal growth, heartbeat or state change" in restart["reason"] and restart["silent_seconds"] > STALL
    detected = dt.datetime.fromisoformat(restart["at"]).timestamp() - kill["killed_at"]
    assert STALL - 5 < detected < STALL + 60
    runs = {r["id"]: r for r in shard_runs(server)}
    assert runs[kill["run"]]["state"]["type"] == "CRASHED" and "refusal-audit:" in runs[kill["run"]]["state"]["message"]
    assert runs[restart["new_run"]]["state"]["type"] == "COMPLETED"
    assert runs[restart["new_run"]]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"

    # the first three shard runs went to three different workers (`--limit 1` spreads them)
    first = [r for r in runs.values() if r["id"] != restart["new_run"]]
    ran_on = workers_of(server, [r["id"] for r in first])
    assert len(first) == SHARDS and len(set(ran_on.values())) == SHARDS, ran_on

    # and all of it on PostgreSQL, without SQLite's lock errors
    assert int(postgres.sql("select count(*) from flow_run")) >= SHARDS + 2
    assert "database is locked" not in server.log("server")
    print(f"\nkilled worker {kill['worker']} running shard {kill['shard']} with {kill['lines_at_kill']} answers in "
          f"its journal; detected and restarted {detected:.1f} s later (silent {restart['silent_seconds']} s); "
          f"requests re-sent: {resent}; sent {sent} for 40 requests; merged journal: {len(ids)} records, "
          f"{len(set(ids))} distinct; audit took {finished - started:.0f} s")
