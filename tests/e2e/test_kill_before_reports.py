"""A kill -9 between the ``record`` and ``reports`` stages (issue 17, c): run.json must not say
``completed`` without report.html, and ``refusal-audit report`` or ``run --resume`` finish it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import mini_set

# every stage up to ``record`` (CSVs and run.json), then SIGKILL before the reports
DRIVER = """
import asyncio, os, signal, sys
from audit import run as pl
from audit.config import build_config
cfg = build_config({"prompts": sys.argv[1], "reports_dir": sys.argv[2], "max_error_rate": 0.05,
                    "targets": [{"base_url": sys.argv[3], "model": "fake-model", "name": "fake"}]})
plan = pl.plan_run(cfg, run_id="r")
asyncio.run(pl.send_all(plan, {"fake": None}))
responses = pl.label_responses(plan)
pl.record_run(plan, responses, pl.compute_tables(plan, responses))
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_after_record(tmp_path: Path, server: FakeOpenAI) -> Path:
    prompts = mini_set(tmp_path / "set.jsonl")
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(prompts), str(tmp_path / "reports"), server.url],
                          check=False, cwd=Path(__file__).resolve().parents[2], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    run_dir = tmp_path / "reports" / "r"
    meta = json.loads((run_dir / "run.json").read_text())
    assert (run_dir / "summary.csv").is_file() and not (run_dir / "report.html").exists()
    assert meta["status"] == "reporting"  # not "completed": there is no report yet
    return run_dir


def test_report_finishes_a_run_killed_before_its_reports(tmp_path: Path, fake_server: FakeOpenAI,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = killed_after_record(tmp_path, fake_server)
    assert main(["report", str(run_dir)]) == 0
    assert "final status" in capsys.readouterr().out
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == meta["result"] == "completed"
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert '<dt>Status</dt><dd class="ok">completed</dd>' in html  # the page shows the final status
    history = (tmp_path / "reports" / "history.csv").read_text(encoding="utf-8")
    assert ",completed," in history


@pytest.mark.usefixtures("prefect_env")
def test_resume_finishes_a_run_killed_before_its_reports(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    fake_server.script = {"taxes": "status:400"}  # 4 errors in 20: above max_error_rate = 0.05
    run_dir = killed_after_record(tmp_path, fake_server)
    assert json.loads((run_dir / "run.json").read_text())["result"] == "failed_thresholds"
    sent = len(fake_server.state.log)
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 1
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == meta["result"] == "failed_thresholds" and (run_dir / "report.html").is_file()
    assert "failed" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert len(fake_server.state.log) == sent  # the journal had every answer
