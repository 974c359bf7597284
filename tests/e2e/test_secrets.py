"""A distinctive API key never appears in any output: journal, CSVs, run.json, HTML, logs, Prefect."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import control_line, mini_set

KEY = "sk-test-SECRETSENTINEL-9f8e7d6c5b4a"


@pytest.mark.usefixtures("prefect_env")
def test_the_key_is_in_no_output(tmp_path: Path, fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
                                 capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUDIT_TEST_KEY", KEY)
    prompts = mini_set(tmp_path / "set.jsonl", refuse_b=("guns",))
    with prompts.open("a") as fh:  # one request whose 400 echoes the Authorization header back
        fh.write(json.dumps(control_line(9, "control_comply", "echoauth:400")) + "\n")
    code = main(["run", "--base-url", fake_server.url, "--model", "fake-model", "--prompts",
                 str(prompts), "--api-key-env", "AUDIT_TEST_KEY", "--run-id", "s",
                 "--reports-dir", str(tmp_path / "reports"), "--no-progress"])
    assert code == 0
    out, err = capfd.readouterr()
    leaks = [str(p) for p in (tmp_path / "reports").rglob("*") if p.is_file() and _leaks(p.read_bytes())]
    home = Path(os.environ["PREFECT_HOME"])
    leaks += [str(p) for p in home.rglob("*") if p.is_file() and _leaks(p.read_bytes())]
    # the Prefect database (flow run parameters, artifacts, logs, events) lives elsewhere in the harness
    database = prefect_database()
    assert database.is_file()
    leaks += [str(p) for p in database.parent.glob(database.name + "*") if _leaks(p.read_bytes())]
    artifacts = asyncio.run(artifacts_and_logs())
    assert "Headline" in artifacts or "headline" in artifacts  # the artifacts were read ...
    assert not _leaks(artifacts.encode())  # ... and hold no key
    assert leaks == []
    assert not _leaks((out + err).encode())
    journal = (tmp_path / "reports" / "s" / "responses.jsonl").read_text()
    assert "Authorization: Bearer [redacted]" in journal  # the failure is recorded, without the key


SHORT = "hunter2"


@pytest.mark.usefixtures("prefect_env")
def test_a_short_key_is_in_no_output_either(tmp_path: Path, fake_server: FakeOpenAI,
                                            monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """A 7-character key echoed by the server (a 400 that quotes the header, then a 401 that
    quotes the key) reaches neither the run folder nor the terminal."""
    monkeypatch.setenv("OPENAI_API_KEY", SHORT)
    prompts = mini_set(tmp_path / "set.jsonl")
    with prompts.open("a") as fh:
        fh.write(json.dumps(control_line(9, "control_comply", "echoauth:400")) + "\n")
    args = ["run", "--base-url", fake_server.url, "--model", "fake-model", "--prompts", str(prompts),
            "--reports-dir", str(tmp_path / "reports"), "--no-progress", "--concurrency", "1"]
    assert main([*args, "--run-id", "short"]) == 0
    run_dir = tmp_path / "reports" / "short"
    journal = (run_dir / "responses.jsonl").read_text()
    assert "headers were: Authorization: Bearer [redacted]" in journal
    responses = (run_dir / "responses.csv").read_text()
    assert "Bearer [redacted]" in responses and "headers were: Authorization: Bearer" in (run_dir / "report.html").read_text()

    fake_server.script = {"borders": "echoauth"}  # now the key is refused, and its 401 quotes it
    assert main([*args, "--run-id", "refused"]) == 2
    out, err = capfd.readouterr()
    assert "Incorrect API key provided: [redacted]" in err
    leaks = [str(p) for p in (tmp_path / "reports").rglob("*") if p.is_file() and SHORT.encode() in p.read_bytes()]
    assert leaks == [] and SHORT not in out + err


def prefect_database() -> Path:
    """The SQLite file of the Prefect server the tests run against."""
    from prefect.settings import get_current_settings

    url = str(get_current_settings().server.database.connection_url.get_secret_value())
    return Path(url.split(":///", 1)[1])


async def artifacts_and_logs() -> str:
    """Every artifact and log line the server holds, as JSON text."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        artifacts = (await client.request("POST", "/artifacts/filter", json={})).json()
        logs = (await client.request("POST", "/logs/filter", json={})).json()
        runs = (await client.request("POST", "/flow_runs/filter", json={})).json()
    return json.dumps([artifacts, logs, [r.get("parameters") for r in runs]])


def _leaks(data: bytes) -> bool:
    return KEY.encode() in data or KEY[-12:].encode() in data
