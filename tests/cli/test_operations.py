"""Operations a user meets: the shipped claims example, the test session's own Prefect home, and
no analytics notice from Prefect on a terminal."""

from __future__ import annotations

import os
import pty
import pwd
import select
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from audit.fakeserver import FakeOpenAI
from audit.stats._claims import load_references
from tests.conftest import PREFECT_HOME, ROOT
from tests.support.prompt_sets import mini_set

NOTICE = "anonymous usage data"


def test_the_example_claims_file_loads_and_the_example_config_points_to_it() -> None:
    claims = load_references(ROOT / "claims.example.toml")
    assert len(claims) == 3
    assert "claims.example.toml" in (ROOT / "audit.example.toml").read_text(encoding="utf-8")
    assert "claims.example.toml" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_creates_the_work_pool_prefect_yaml_names() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "name: audit-pool" in (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    assert readme.index("prefect work-pool create audit-pool") < readme.index("deploy --all")


def cli() -> list[str]:
    script = Path(sys.executable).parent / "refusal-audit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "audit.cli"]


def test_the_session_prefect_home_is_a_temporary_one(tmp_path: Path) -> None:
    """`make test` never writes into the developer's ~/.prefect: a CLI run of this session lands
    in the session's own Prefect home (a subprocess inherits it)."""
    real_home = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".prefect"
    assert Path(os.environ["PREFECT_HOME"]) == PREFECT_HOME
    assert PREFECT_HOME.is_relative_to(tempfile.gettempdir()) and not PREFECT_HOME.is_relative_to(real_home)
    code = "from prefect.settings import get_current_settings as s; print(s().home); print(s().server.database.connection_url.get_secret_value())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert Path(out[0]) == PREFECT_HOME and str(PREFECT_HOME) in out[1]
    prompts = mini_set(tmp_path / "set.jsonl", topics=("taxes",))
    marker = f"marker-{tmp_path.name}"
    with FakeOpenAI() as server:
        subprocess.run([*cli(), "run", "--base-url", server.url, "--model", "fake-model", "--prompts", str(prompts),
                        "--reports-dir", str(tmp_path / "reports"), "--run-id", marker, "--no-progress", "--prefect"],
                       capture_output=True, text=True, check=True, timeout=300)
    assert flow_runs_naming(PREFECT_HOME / "prefect.db", marker) >= 1
    assert flow_runs_naming(real_home / "prefect.db", marker) == 0


def flow_runs_naming(db: Path, marker: str) -> int:
    """Flow runs in a Prefect SQLite database whose parameters mention ``marker`` (read only)."""
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
        row = con.execute("SELECT count(*) FROM flow_run WHERE parameters LIKE ?", (f"%{marker}%",)).fetchone()
    return int(row[0])


def on_a_terminal(argv: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; everything it printed."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvpe(argv[0], argv, env)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return out.decode("utf-8", "replace")


def test_no_prefect_analytics_notice_on_a_terminal(tmp_path: Path) -> None:
    ci = {"CI", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "BUILDKITE", "TF_BUILD", "CI_NAME", "DRONE"}
    env = {k: v for k, v in os.environ.items() if k not in ci and k != "DO_NOT_TRACK"}
    env["PREFECT_HOME"] = str(tmp_path / "fresh-prefect-home")  # a new user: the notice would show
    # the control: Prefect itself prints the notice on a terminal for a new user
    control = on_a_terminal([sys.executable, "-c", "import prefect"], {**env, "PREFECT_HOME": str(tmp_path / "p2")})
    assert NOTICE in control
    prompts = mini_set(tmp_path / "set.jsonl", topics=("taxes",))
    with FakeOpenAI() as server:
        out = on_a_terminal([*cli(), "run", "--base-url", server.url, "--model", "fake-model", "--prompts",
                             str(prompts), "--reports-dir", str(tmp_path / "reports"), "--no-progress", "--prefect"],
                            env)  # --prefect: a flow run, so Prefect is imported (without it, it never is)
    assert "report:" in out and NOTICE not in out
