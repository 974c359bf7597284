"""SIGKILL at random points, resume each time: same figures as an uninterrupted run, no duplicates."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from audit.fakeserver import FakeOpenAI
from audit.send import _journal as jr
from tests.support.prompt_sets import mini_set

DRIVER = """
import sys
from pathlib import Path
from audit import run as pl
from audit.config import build_config
from audit.send._runner import RetryPolicy
cfg = build_config({"prompts": sys.argv[1], "reports_dir": sys.argv[2], "batch_size": 7,
                    "targets": [{"base_url": sys.argv[3], "model": "fake-model", "name": "fake", "concurrency": 3}]})
run_dir = Path(sys.argv[2]) / "r"
if run_dir.exists():
    plan = pl.resume_plan(run_dir)
else:
    plan = pl.plan_run(cfg, run_id="r")
import asyncio
asyncio.run(pl.send_all(plan, {"fake": None}, policy=RetryPolicy(max_retries=2, base_delay=0.01)))
pl.analyse(plan)
"""


def start(prompts: Path, reports: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(prompts), str(reports), url],
                            cwd=Path(__file__).resolve().parents[2], stderr=subprocess.DEVNULL)


def journal_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_sigkill_resume_cycles_give_identical_figures(tmp_path: Path) -> None:
    rng = random.Random(7)
    topics = tuple(f"topic{i}" for i in range(10))
    prompts = mini_set(tmp_path / "set.jsonl", topics=topics, refuse_b=topics[:3], refuse_both=topics[3:5])
    with FakeOpenAI(script={"": "slow:0.03"}) as server:
        killed = tmp_path / "killed"
        journal = killed / "r" / "responses.jsonl"
        for cycle in range(3):
            proc = start(prompts, killed, server.url)
            target = journal_lines(journal) + rng.randint(2, 8)
            deadline = time.monotonic() + 60
            while journal_lines(journal) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            if cycle == 1:  # a torn last line, as a power cut would leave it
                with journal.open("ab") as fh:
                    fh.write(b'{"request_id": "torn-by-test", "answ')
        assert start(prompts, killed, server.url).wait(120) == 0
        clean = start(prompts, tmp_path / "clean", server.url)
        assert clean.wait(120) == 0
    ids = [r["request_id"] for r in jr.iter_records(journal)]
    assert len(ids) == len(set(ids)) == 44 and "torn-by-test" not in ids
    a = pd.read_csv(killed / "r" / "summary.csv")
    b = pd.read_csv(tmp_path / "clean" / "r" / "summary.csv")
    pd.testing.assert_frame_equal(a, b)
    meta = json.loads((killed / "r" / "run.json").read_text())
    assert meta["status"] == "completed"


# ------------------------------------------------------------------ Ctrl-C and SIGTERM, as a user meets them

PREFECT_LOG = re.compile(r"^\d\d:\d\d:\d\d\.\d+ \| INFO ")  # Prefect's own progress lines (flow/task states)
RESUME = re.compile(r"resume with: refusal-audit run --resume (\S+)$")


def cli() -> list[str]:
    script = Path(sys.executable).parent / "refusal-audit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "audit.cli"]


def interrupt_run(args: list[str], cwd: Path, journal: Callable[[], Path | None], sig: int) -> tuple[int, str]:
    """Start ``refusal-audit run ARGS``, send ``sig`` once its journal has grown by two answers."""
    before = journal()
    start_lines = journal_lines(before) if before else 0
    proc = subprocess.Popen([*cli(), "run", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        path = journal()
        if path is not None and journal_lines(path) >= start_lines + 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


@pytest.mark.parametrize("mode", [[], ["--prefect"]], ids=["without-prefect", "prefect-flow"])
def test_ctrl_c_and_sigterm_say_what_was_kept_and_how_to_resume(tmp_path: Path, mode: list[str]) -> None:
    topics = tuple(f"topic{i}" for i in range(10))
    prompts = mini_set(tmp_path / "set.jsonl", topics=topics)

    def journal() -> Path | None:
        found = sorted((tmp_path / "reports").glob("*/responses.jsonl"))
        return found[0] if found else None

    with FakeOpenAI(script={"": "slow:0.4"}) as server:
        args = ["--base-url", server.url, "--model", "fake-model", "--prompts", str(prompts),
                "--reports-dir", "reports", "--concurrency", "2", "--no-progress", *mode]
        code, err = interrupt_run(args, tmp_path, journal, signal.SIGINT)
        assert code == 130, err
        lines = [line for line in err.splitlines() if line.strip() and not PREFECT_LOG.match(line)]
        assert len(lines) == 1, err  # no traceback, no "Crash detected", no closed-file errors
        path = journal()
        assert path is not None
        folder = path.parent.relative_to(tmp_path)
        assert lines[0].startswith(f"interrupted: {journal_lines(path)} answers kept in {folder}/responses.jsonl")
        resume = RESUME.search(lines[0])
        assert resume is not None and resume.group(1) == str(folder)
        # resumed, then stopped again with SIGTERM (what `kill`, systemd or a container runtime send)
        code, err = interrupt_run(["--resume", str(folder), "--no-progress", *mode], tmp_path, journal,
                                  signal.SIGTERM)
        assert code == 143, err
        lines = [line for line in err.splitlines() if line.strip() and not PREFECT_LOG.match(line)]
        assert len(lines) == 1 and lines[0].endswith(f"resume with: refusal-audit run --resume {folder}"), err
        done = subprocess.run([*cli(), "run", "--resume", str(folder), "--no-progress", *mode], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
    ids = [r["request_id"] for r in jr.iter_records(tmp_path / folder / "responses.jsonl")]
    assert len(ids) == len(set(ids)) == 44
    assert json.loads((tmp_path / folder / "run.json").read_text())["status"] == "completed"
