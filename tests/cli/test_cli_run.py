"""``refusal-audit run`` end to end through the Prefect flow, against the fake server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.usefixtures("prefect_env")


def run_cli(tmp_path: Path, *args: str) -> int:
    return main(["run", "--reports-dir", str(tmp_path / "reports"), "--no-progress", *args])


def test_run_writes_a_run_folder_and_resume_sends_nothing(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    prompts = mini_set(tmp_path / "set.jsonl", refuse_b=("guns",))
    code = run_cli(tmp_path, "--base-url", fake_server.url, "--model", "fake-model", "--prompts", str(prompts),
                   "--concurrency", "4", "--run-id", "r1")
    assert code == 0
    run_dir = tmp_path / "reports" / "r1"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["answers"] == 20
    assert meta["prompt_set"]["name"] == "set" and len(meta["prompt_set"]["sha256"]) == 64
    sent = len(fake_server.state.log)
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 0
    assert len(fake_server.state.log) == sent
    responses = pd.read_csv(run_dir / "responses.csv")
    assert len(responses) == 20 and responses["request_id"].is_unique


def test_config_file_with_flag_override(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'prompts = "{prompts}"\n[[targets]]\nname = "one"\nbase_url = "{fake_server.url}"\n'
                   f'model = "fake-model"\nmax_tokens = 99\n')
    assert run_cli(tmp_path, str(cfg), "--max-tokens", "7", "--run-id", "r2") == 0
    assert {b["max_tokens"] for b in fake_server.state.log} == {7}


@pytest.mark.parametrize("args,needle", [
    (["--model", "m"], "base_url"),
    ([], "no target"),
    (["--base-url", "ftp://x", "--model", "m"], "http(s) URL"),
    (["--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--concurrency", "-3"], "concurrency"),
    (["--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--prompts", "nope.jsonl"], "nope.jsonl"),
])
def test_user_mistakes_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               args: list[str], needle: str) -> None:
    assert run_cli(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_config_key_names_the_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "audit.toml"
    cfg.write_text('promtps = "x.jsonl"\n')
    assert run_cli(tmp_path, str(cfg)) == 2
    err = capsys.readouterr().err
    assert "audit.toml" in err and "promtps" in err


def test_import_audit_does_not_import_prefect() -> None:
    code = "import sys, audit, audit.run, audit.send._runner, audit.config; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_breach_exits_1_and_retry_errors_recovers(tmp_path: Path, fake_server: FakeOpenAI,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    fake_server.script = {"taxes": "status:503"}
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'prompts = "{prompts}"\nmax_error_rate = 0.05\n[[targets]]\nbase_url = "{fake_server.url}"\n'
                   f'model = "fake-model"\nmax_retries = 0\n')
    assert run_cli(tmp_path, str(cfg), "--run-id", "b") == 1
    assert "max_error_rate" in capsys.readouterr().err
    fake_server.script = {}
    run_dir = tmp_path / "reports" / "b"
    assert main(["run", "--resume", str(run_dir), "--retry-errors", "--no-progress"]) == 0
    responses = pd.read_csv(run_dir / "responses.csv")
    assert len(responses) == 20 and (responses["label"] == "error").sum() == 0


@pytest.mark.parametrize("argv", [["run", "--bogus-flag"], ["run", "--concurrency", "abc"], ["nosuchcmd"],
                                  ["plan", "--claim", "refusal_rate < 0.02"], ["classify", "x.csv"]])
def test_usage_errors_exit_2_without_a_traceback(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert ("Error" in err or err.startswith("error: ")) and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 8  # one message (typer frames it in a small box)


def test_an_existing_run_id_is_refused_before_prefect_starts(tmp_path: Path, fake_server: FakeOpenAI,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "reports" / "taken").mkdir(parents=True)
    (tmp_path / "reports" / "taken" / "run.json").write_text("{}")
    prompts = mini_set(tmp_path / "set.jsonl")
    assert run_cli(tmp_path, "--base-url", fake_server.url, "--model", "m", "--prompts", str(prompts),
                   "--run-id", "taken") == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "Traceback" not in err and len(fake_server.state.log) == 0


def test_a_breach_prints_no_traceback(tmp_path: Path, fake_server: FakeOpenAI, capfd: pytest.CaptureFixture[str]) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    fake_server.script = {"taxes": "status:400"}
    assert run_cli(tmp_path, "--base-url", fake_server.url, "--model", "m", "--prompts", str(prompts),
                   "--max-error-rate", "0.05", "--run-id", "t") == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "exceeds max_error_rate" in err and "error_rate" in out
