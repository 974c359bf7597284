"""Issue 20: ``refusal-audit run`` is a Prefect flow run only when a Prefect API is configured or
``--prefect`` asks for one; otherwise the same stages run in the CLI's own process, with no
server, no watchdog and nothing left running after it exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from audit.fakeserver import FakeOpenAI
from audit_flows import orphans
from tests.support.prompt_sets import mini_set

ROOT = Path(__file__).resolve().parents[2]


def cli() -> list[str]:
    script = Path(sys.executable).parent / "refusal-audit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "audit.cli"]


def no_api_env(home: Path) -> dict[str, str]:
    """No Prefect API anywhere: no PREFECT_* variable, a Prefect home of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_LOGGING_LEVEL": "WARNING"}


def children(pid: int) -> set[int]:
    """The live child processes of ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


def watch_run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[int]]:
    """Run the CLI to its end; return it and every child process seen while it ran."""
    proc = subprocess.Popen([*cli(), "run", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen: set[int] = set()
    while proc.poll() is None:
        seen |= children(proc.pid)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), seen


def alive(pid: int) -> bool:
    return orphans.alive(pid)


def test_without_a_prefect_api_the_run_has_no_server_and_leaves_nothing(tmp_path: Path) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    home = tmp_path / "prefect-home"
    with FakeOpenAI(script={"": "slow:0.05"}, default="comply") as server:
        done, seen = watch_run(["--base-url", server.url, "--model", "fake-model", "--prompts", str(prompts),
                                "--reports-dir", "reports", "--run-id", "r", "--no-progress", "--json"],
                               no_api_env(home), tmp_path)
    assert done.returncode == 0, done.stderr
    assert seen == set(), "the run started a child process (a Prefect server or watchdog)"
    assert not (home / "prefect.db").exists()  # no Prefect server, temporary or not, kept a flow run
    run = tmp_path / "reports" / "r"
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "completed" and meta["answers"] == 20
    for name in ("report.html", "summary.csv", "pairs.csv", "topics.csv", "claims.csv", "drift.csv", "responses.csv"):
        assert (run / name).is_file(), name
    summary = pd.read_csv(run / "summary.csv")
    # mini_set: 4 topics x 2 templates x 2 sides = 16 contested prompts; guns' side b refused twice
    rate = summary[(summary["metric"] == "refusal_rate")]["estimate"].iloc[0]
    assert rate == pytest.approx(2 / 16)
    assert json.loads(done.stdout)["run_dir"].endswith("r")
    assert (tmp_path / "reports" / "history.csv").is_file()


def test_the_prefect_flag_makes_a_flow_run_and_leaves_nothing_after_exit(tmp_path: Path) -> None:
    """``--prefect`` without an API: a flow run on a temporary server, which stops at exit with
    its watchdog — neither outlives the command; its figures are those of a run without Prefect."""
    prompts = mini_set(tmp_path / "set.jsonl")
    home = tmp_path / "prefect-home"
    with FakeOpenAI() as server:
        common = ["--base-url", server.url, "--model", "fake-model", "--prompts", str(prompts), "--no-progress"]
        done, seen = watch_run([*common, "--reports-dir", "reports", "--run-id", "flow-marker", "--prefect"],
                               no_api_env(home), tmp_path)
        local, _ = watch_run([*common, "--reports-dir", "local", "--run-id", "r"], no_api_env(home), tmp_path)
    assert done.returncode == 0 and local.returncode == 0, done.stderr + local.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "reports" / "flow-marker" / "summary.csv"),
                                  pd.read_csv(tmp_path / "local" / "r" / "summary.csv"))
    assert len(seen) == 2, seen  # the temporary server and its watchdog
    time.sleep(0.2)
    assert not [p for p in seen if alive(p)], "a child of the run outlived it"
    from tests.cli.test_operations import flow_runs_naming

    assert flow_runs_naming(home / "prefect.db", "flow-marker") == 1


@pytest.mark.usefixtures("prefect_env")
def test_no_prefect_runs_the_stages_even_with_an_api(tmp_path: Path, fake_server: FakeOpenAI,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import audit_flows.audit_flow as flow_module
    from audit.cli import main

    def no_flow(**kwargs: object) -> None:
        raise AssertionError("the flow ran despite --no-prefect")

    monkeypatch.setattr(flow_module, "audit_flow", no_flow)
    prompts = mini_set(tmp_path / "set.jsonl", topics=("taxes",))
    assert main(["run", "--base-url", fake_server.url, "--model", "fake-model", "--prompts", str(prompts),
                 "--reports-dir", str(tmp_path / "reports"), "--run-id", "r", "--no-progress", "--no-prefect"]) == 0
    assert json.loads((tmp_path / "reports" / "r" / "run.json").read_text())["status"] == "completed"


PROBE = "import sys; from audit_flows import local_api; print(local_api.api_configured(), 'prefect' in sys.modules)"


@pytest.mark.parametrize(("where", "expected"), [
    ("nowhere", "False False"),
    ("environment", "True False"),
    ("profile", "True True"),
    ("prefect.toml", "True True"),
    ("pyproject without prefect", "False False"),
])
def test_a_configured_prefect_api_is_found_without_importing_prefect_needlessly(
        tmp_path: Path, where: str, expected: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = no_api_env(home)
    if where == "environment":
        env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"
    elif where == "profile":
        (home / "profiles.toml").write_text('active = "team"\n[profiles.team]\n'
                                            'PREFECT_API_URL = "http://127.0.0.1:9/api"\n', encoding="utf-8")
    elif where == "prefect.toml":
        (tmp_path / "prefect.toml").write_text('[api]\nurl = "http://127.0.0.1:9/api"\n', encoding="utf-8")
    elif where == "pyproject without prefect":
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == expected


def test_no_prefect_with_a_key_in_a_secret_block_is_one_line(tmp_path: Path, fake_server: FakeOpenAI,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from audit.cli import main

    prompts = mini_set(tmp_path / "set.jsonl", topics=("taxes",))
    config = tmp_path / "audit.toml"
    config.write_text(f'prompts = "{prompts}"\nreports_dir = "{tmp_path / "reports"}"\n[[targets]]\nname = "t"\n'
                      f'base_url = "{fake_server.url}"\nmodel = "fake-model"\napi_key_secret = "team-key"\n',
                      encoding="utf-8")
    assert main(["run", str(config), "--no-progress", "--no-prefect"]) == 2
    err = capsys.readouterr().err.strip()
    assert "target 't' reads its key from a Prefect Secret block" in err and "\n" not in err
    assert not fake_server.state.log  # nothing was sent
