"""A killed run leaves no Prefect temporary server behind (audit/orphans.py, Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.fakeserver import FakeOpenAI
from audit_flows import orphans
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
ROOT = Path(__file__).resolve().parents[2]

# A parent that starts two children, one that looks like Prefect's temporary server, then sleeps.
PARENT = f"""
import subprocess, sys, time
for tag in ({orphans.MARKER!r}, "something-else"):
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", tag])
print("ready", flush=True)
time.sleep(120)
"""


def wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_the_watchdog_stops_only_the_temporary_server_of_a_killed_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE)
    assert parent.stdout is not None and parent.stdout.readline().strip() == b"ready"
    assert wait_for(lambda: len(orphans.temporary_servers(parent.pid)) == 1, 10)
    server = orphans.temporary_servers(parent.pid).pop()
    others = [int(p) for p in os.listdir("/proc") if p.isdigit()
              and (info := orphans._ppid_and_cmdline(int(p))) and info[0] == parent.pid and "something-else" in info[1]]
    assert len(others) == 1
    watchdog = subprocess.Popen([sys.executable, "-m", "audit_flows.orphans", str(parent.pid)], cwd=ROOT)
    time.sleep(1.5)  # it has seen the children
    try:
        assert orphans.alive(server)
        parent.kill()
        parent.wait()
        assert watchdog.wait(timeout=20) == 0
        assert wait_for(lambda: not orphans.alive(server), 5)
        assert orphans.alive(others[0])  # not ours to stop
    finally:
        for pid in (server, others[0]):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_sigkilled_run_leaves_no_temporary_prefect_server(tmp_path: Path) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"})
    with FakeOpenAI(script={"": "slow:1"}) as fake:
        cli = subprocess.Popen([str(Path(sys.executable).parent / "refusal-audit"), "run", "--base-url", fake.url,
                                "--model", "m", "--prompts", str(prompts), "--concurrency", "1", "--no-progress", "--prefect",
                                "--reports-dir", str(tmp_path / "reports")], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert wait_for(lambda: bool(orphans.temporary_servers(cli.pid)) or cli.poll() is not None, 120)
            assert cli.poll() is None, "the run ended before its temporary server was seen"
            servers = orphans.temporary_servers(cli.pid)
            assert wait_for(lambda: len(fake.state.log) >= 1, 60)  # sending: mid-run
            cli.kill()
            cli.wait()
            assert wait_for(lambda: not any(orphans.alive(p) for p in servers), 30), "the temporary server lives on"
        finally:
            if cli.poll() is None:
                cli.kill()
            for pid in orphans.temporary_servers(cli.pid):
                os.kill(pid, signal.SIGKILL)


def test_runs_in_one_process_share_one_temporary_server(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from audit.cli import main
    from audit_flows import local_api

    prompts = mini_set(tmp_path / "set.jsonl")
    before = orphans.temporary_servers(os.getpid())
    with temporary_settings(restore_defaults={PREFECT_API_URL}):  # no Prefect API: a temporary one
        for run_id in ("one", "two"):
            assert main(["run", "--base-url", fake_server.url, "--model", "m", "--prompts", str(prompts),
                         "--reports-dir", str(tmp_path / "reports"), "--run-id", run_id, "--no-progress",
                         "--prefect"]) == 0
        assert local_api._RUNNING is not None
        started = orphans.temporary_servers(os.getpid()) - before
        assert started <= {local_api._RUNNING.process.pid}  # both runs used one server (maybe an earlier one)
        assert local_api._RUNNING.process.pid in orphans.temporary_servers(os.getpid())
        environ = Path(f"/proc/{local_api._RUNNING.process.pid}/environ").read_bytes().split(b"\0")
        assert b"PREFECT_SERVER_ANALYTICS_ENABLED=false" in environ  # no telemetry from an audit


def test_a_user_mistake_after_a_run_leaves_the_shared_temporary_server_up(
        tmp_path: Path, fake_server: FakeOpenAI) -> None:
    """Prefect's log and event workers of an earlier run still send to the temporary server:
    stopping it on a later mistake left them retrying for ever (a hang at exit)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from audit.cli import main
    from audit_flows import local_api

    prompts = mini_set(tmp_path / "set.jsonl")
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["run", "--base-url", fake_server.url, "--model", "m", "--prompts", str(prompts),
                     "--reports-dir", str(tmp_path / "reports"), "--run-id", "ok", "--no-progress", "--prefect"]) == 0
        server = local_api._RUNNING
        assert server is not None and server.used
        assert main(["run", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--prompts", str(prompts),
                     "--reports-dir", str(tmp_path / "reports"), "--run-id", "bad", "--no-progress", "--prefect"]) == 2
        assert local_api._RUNNING is server and server.process.poll() is None
