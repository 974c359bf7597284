"""Issue 17: two clients on one run folder. ``run --resume DIR`` while another process is still
sending to DIR is refused in one line (exit 2) instead of sending every pending request again;
once the first process has finished (or died), a resume works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.errors import RunFolderBusy
from audit.fakeserver import FakeOpenAI
from audit.run import _lock
from audit.send import _journal as jr
from tests.support.prompt_sets import mini_set

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "audit.cli", "run", "--no-progress", *args]


def prefect_env(mode: str = "flow") -> dict[str, str]:
    """This session's Prefect API for the subprocesses (no temporary server each): a flow run; or,
    for ``mode`` "local", no Prefect API at all (the stages run without Prefect)."""
    from prefect.settings import PREFECT_API_URL

    if mode == "local":
        return {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def journal_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.usefixtures("prefect_env")
@pytest.mark.parametrize("mode", ["flow", "local"])
def test_a_second_client_on_a_run_folder_is_refused_in_one_line(tmp_path: Path, mode: str) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    run_dir = tmp_path / "reports" / "r"
    env = prefect_env(mode)
    with FakeOpenAI(script={"": "slow:0.4"}) as server:
        first = subprocess.Popen(cli("--base-url", server.url, "--model", "fake-model", "--prompts", str(prompts),
                                     "--concurrency", "1", "--reports-dir", str(tmp_path / "reports"), "--run-id", "r"),
                                 cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while journal_lines(run_dir / jr.JOURNAL_NAME) < 1 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()[1]  # still sending
        second = subprocess.run(cli("--resume", str(run_dir)), check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=120)
        sent_while_refused = len(server.state.log)
        assert second.returncode == 2, second.stderr
        assert first.poll() is None, "the first client finished before the second was checked: slow it down"
        assert second.stderr.strip().count("\n") == 0 and "Traceback" not in second.stderr
        assert f"{run_dir} is in use" in second.stderr and f"pid {first.pid}" in second.stderr
        assert first.wait(timeout=120) == 0, first.communicate()[1]
        assert len(server.state.log) == 20 >= sent_while_refused  # the refused client sent nothing
        ids = [r["request_id"] for r in jr.iter_records(run_dir / jr.JOURNAL_NAME)]
        assert len(ids) == len(set(ids)) == 20
        resumed = subprocess.run(cli("--resume", str(run_dir)), check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        assert len(server.state.log) == 20  # nothing was missing
    assert not list(run_dir.rglob("*.tmp"))


HOLD = """
import sys, time
from pathlib import Path
from audit.run._lock import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_lock_is_per_process_reentrant_and_dies_with_its_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    (run_dir / "shards" / "0").mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(RunFolderBusy, match=rf"{run_dir} is in use.*pid {holder.pid}.*--resume {run_dir}"):
            _lock.check_free(run_dir)
        with _lock.run_lock(run_dir / "shards" / "0"):  # a shard's folder is not the run folder
            pass
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up runs: the kernel drops the lock
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    with _lock.run_lock(run_dir), _lock.run_lock(run_dir):  # re-entrant within this process
        _lock.check_free(run_dir)
        probe = subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(60)", "pass"), str(run_dir)],
                               check=False, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0 and "RunFolderBusy" in probe.stderr and f"pid {os.getpid()}" in probe.stderr
    assert not _lock._HELD  # released: the descriptor is closed
    assert (run_dir / _lock.LOCK_NAME).is_file()  # the file stays (removing it would break the lock)
