"""SIGKILL at random points, resume each time: same figures as an uninterrupted run, no duplicates."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

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
