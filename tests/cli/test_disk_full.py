"""Issue 17: a full disk during ``refusal-audit run``. The run stops with one line naming the file
and the free space (exit 2), leaves no temp file, keeps its journal whole, and a resume completes.

The disk is "full" for real, without root: the CLI runs in a subprocess whose file-size limit
(``RLIMIT_FSIZE``) is below the size one of the run's files reaches. The kernel then writes what
fits and fails the rest with EFBIG (Python ignores SIGXFSZ), exactly as a full disk writes what
fits and fails with ENOSPC; the same code handles both (``audit.errors.DISK_FULL``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.fakeserver import FakeOpenAI
from audit.send import _journal as jr
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.usefixtures("prefect_env")

ROOT = Path(__file__).resolve().parents[2]
LIMITED = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from audit.cli._app import main
sys.exit(main(sys.argv[2:]))
"""


def run_cli(args: list[str], limit: int | None = None) -> subprocess.CompletedProcess[str]:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "PYTHONDONTWRITEBYTECODE": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    command = [sys.executable, "-c", LIMITED, str(limit)] if limit else [sys.executable, "-m", "audit.cli"]
    return subprocess.run([*command, "run", "--no-progress", *args], check=False, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


# the run's files: prompts.jsonl ~5 kB, run.json ~2 kB, responses.jsonl ~16 kB, CSVs ≤ 11 kB,
# report.html ~60 kB
@pytest.mark.parametrize("limit,full", [(8_000, "responses.jsonl"), (30_000, "report.html")])
def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path: Path, limit: int, full: str) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    run_dir = tmp_path / "reports" / "r"
    with FakeOpenAI() as server:
        stopped = run_cli(["--base-url", server.url, "--model", "fake-model", "--prompts", str(prompts),
                           "--reports-dir", str(tmp_path / "reports"), "--run-id", "r"], limit)
        assert stopped.returncode == 2, stopped.stderr
        assert "Traceback" not in stopped.stderr + stopped.stdout
        errors = [line for line in stopped.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and f"cannot write {run_dir / full}: File too large (" in errors[0]
        assert f" free there) — free some space, then resume the run with 'refusal-audit run --resume {run_dir}'" in errors[0]
        assert len(stopped.stderr.splitlines()) < 30  # Prefect's progress lines, not 610 lines
        assert not list(tmp_path.rglob("*.tmp"))
        journal = run_dir / jr.JOURNAL_NAME
        assert journal.read_bytes().endswith(b"\n")  # no half line: cut back when the write failed
        kept = [r["request_id"] for r in jr.iter_records(journal)]
        assert 0 < len(kept) == len(set(kept)) <= 20
        if full == "responses.jsonl":
            assert len(kept) < 20 and not (run_dir / "report.html").exists()

        resumed = run_cli(["--resume", str(run_dir)])
        assert resumed.returncode == 0, resumed.stderr
    ids = [r["request_id"] for r in jr.iter_records(journal)]
    assert len(ids) == len(set(ids)) == 20 and ids[: len(kept)] == kept
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert (run_dir / "report.html").is_file() and not list(tmp_path.rglob("*.tmp"))
