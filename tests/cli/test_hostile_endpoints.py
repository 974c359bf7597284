"""Endpoints that go wrong in ways a run must not hide (issue 17): most requests failing, a
refused key, a page that is not the API, a model the endpoint does not serve. Through
``refusal-audit run``, against the fake server."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from audit.cli import main
from audit.config import AuditConfig, read_toml
from audit.fakeserver import FakeOpenAI, last_user_text
from audit.send import _journal as jr
from tests.support.prompt_sets import mini_set

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "AUDIT_HOSTILE_KEY"


def run_cli(tmp_path: Path, *args: str) -> int:
    return main(["run", "--reports-dir", str(tmp_path / "reports"), "--no-progress", *args])


def config_file(tmp_path: Path, url: str, prompts: Path, extra: str = "", target: str = "") -> Path:
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'prompts = "{prompts}"\n{extra}\n[[targets]]\nname = "hostile"\nbase_url = "{url}"\n'
                   f'model = "fake-model"\napi_key_env = "{KEY_ENV}"\nmax_retries = 0\n{target}\n')
    return cfg


def one_line(err: str) -> str:
    """The one line on stderr (nothing else: these fail before Prefect starts)."""
    err = err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


# -- 3. a run where most requests failed --------------------------------------------------------

def test_max_error_rate_defaults_to_the_example_configs_value() -> None:
    assert AuditConfig.model_fields["max_error_rate"].default == 0.05
    assert read_toml(ROOT / "audit.example.toml")["max_error_rate"] == 0.05


@pytest.mark.usefixtures("prefect_env")
def test_a_run_whose_requests_mostly_failed_exits_1_and_says_so(
        tmp_path: Path, fake_server: FakeOpenAI, capfd: pytest.CaptureFixture[str]) -> None:
    fake_server.default = "status:503"  # down for all but the 'taxes' prompts and those with a directive
    fake_server.script = {"taxes": "comply"}
    cfg = config_file(tmp_path, fake_server.url, mini_set(tmp_path / "set.jsonl"))
    assert run_cli(tmp_path, str(cfg), "--run-id", "down") == 1  # no max_error_rate given: 0.05
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    [warning] = warning_lines(err)
    assert "60% of requests to 'hostile' failed (12 of 20; most often InternalServerError, 12 times)" in warning
    assert "error: hostile: error_rate 60.00%" in err and "exceeds max_error_rate = 0.05" in err
    meta = json.loads((tmp_path / "reports" / "down" / "run.json").read_text())
    assert meta["warnings"] and "60% of requests" in meta["warnings"][0]

    # --max-error-rate still overrides: the run passes, but a run where errors dominate is never quiet
    assert run_cli(tmp_path, str(cfg), "--run-id", "down-ok", "--max-error-rate", "1") == 0
    _, err = capfd.readouterr()
    assert len(warning_lines(err)) == 1 and "60% of requests to 'hostile' failed" in err


@pytest.mark.usefixtures("prefect_env")
def test_a_few_errors_under_the_limit_pass_without_a_warning(
        tmp_path: Path, fake_server: FakeOpenAI, capfd: pytest.CaptureFixture[str]) -> None:
    fake_server.script = {"Control request number 0.": "status:503"}  # control_comply.0: 1 of 20 = 5%, the limit
    cfg = config_file(tmp_path, fake_server.url, mini_set(tmp_path / "set.jsonl"))
    assert run_cli(tmp_path, str(cfg), "--run-id", "fine") == 0
    assert warning_lines(capfd.readouterr().err) == []


# -- 3. a refused key: one line, exit 2, at once ---------------------------------------------

@pytest.mark.usefixtures("prefect_env")
def test_a_wrong_key_stops_the_run_before_anything_is_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key-0123456789")
    with FakeOpenAI(api_key="sk-right-key-9876543210") as server:
        cfg = config_file(tmp_path, server.url, mini_set(tmp_path / "set.jsonl"))
        assert run_cli(tmp_path, str(cfg), "--run-id", "k") == 2
        assert server.state.log == []  # not one chat request
    out, err = capfd.readouterr()
    line = one_line(err)
    assert line.startswith("error: target 'hostile':") and "refused the API key (HTTP 401" in line
    assert KEY_ENV in line and "sk-wrong-key" not in out + err and "0123456789" not in out + err


@pytest.mark.usefixtures("prefect_env")
def test_an_unset_key_that_the_endpoint_needs_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with FakeOpenAI(api_key="sk-right-key-9876543210") as server:
        cfg = config_file(tmp_path, server.url, mini_set(tmp_path / "set.jsonl"))
        assert run_cli(tmp_path, str(cfg)) == 2
    line = one_line(capfd.readouterr().err)
    assert f"the environment variable {KEY_ENV} (api_key_env) is not set" in line


@pytest.mark.usefixtures("prefect_env")
def test_a_key_refused_while_sending_stops_every_batch_and_the_run_resumes(
        tmp_path: Path, fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(KEY_ENV, "hunter2")
    fake_server.script = {"guns": "echoauth"}  # the key is refused from the 'guns' prompts on (a revoked key)
    cfg = config_file(tmp_path, fake_server.url, mini_set(tmp_path / "set.jsonl"), target="concurrency = 1")
    assert run_cli(tmp_path, str(cfg), "--run-id", "revoked") == 2
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "hunter2" not in out + err
    [line] = [x for x in err.splitlines() if x.startswith("error: ")]
    assert line.startswith("error: target 'hostile':") and "refused the API key (HTTP 401" in line
    assert f"check the key in the environment variable {KEY_ENV} (api_key_env)" in line
    assert "refusal-audit run --resume" in line
    # the four 'taxes' answers came first and stay; the first 401 stopped every batch: no retries
    run_dir = tmp_path / "reports" / "revoked"
    assert [r["prompt_id"].split(".")[0] for r in jr.iter_records(run_dir / "responses.jsonl")] == ["taxes"] * 4
    assert len(fake_server.state.log) == 5
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"

    fake_server.script = {}  # the key works again: resume sends only what is missing
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 0
    seen = Counter(last_user_text(b) for b in fake_server.state.log)
    assert len(seen) == 20 and all(n == 1 for text, n in seen.items() if "taxes" in text)
    assert len({r["request_id"] for r in jr.iter_records(run_dir / "responses.jsonl")}) == 20
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["stopped_because"] is None


@pytest.mark.usefixtures("prefect_env")
def test_a_refused_key_stops_every_batch_in_flight(tmp_path: Path, fake_server: FakeOpenAI,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    fake_server.default = "echoauth"  # every chat request: 401 (the models list is open)
    cfg = config_file(tmp_path, fake_server.url, mini_set(tmp_path / "set.jsonl"), "batch_size = 2",
                      "concurrency = 2")
    assert run_cli(tmp_path, str(cfg), "--run-id", "all") == 2  # 10 batches, 3 in flight, 2 requests each
    assert len(fake_server.state.log) <= 6  # what was in flight at the first 401; nothing retried
    assert not (tmp_path / "reports" / "all" / "responses.jsonl").read_text()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert len([x for x in err.splitlines() if x.startswith("error: ")]) == 1


# -- 6. the preflight reads GET /models ----------------------------------------------------------

@pytest.mark.parametrize("server_options,needle", [
    ({"models_page": "html"}, "answered HTTP 200 with text/html that is not an OpenAI model list"),
    ({"models": ["llama-3-8b", "qwen2.5-7b"]},
     "does not serve the model 'fake-model'; it offers: llama-3-8b, qwen2.5-7b — set the target's model"),
])
def test_a_models_page_that_is_not_the_api_or_lacks_the_model_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], server_options: dict[str, object], needle: str) -> None:
    with FakeOpenAI(**server_options) as server:  # type: ignore[arg-type]
        cfg = config_file(tmp_path, server.url, mini_set(tmp_path / "set.jsonl"))
        assert run_cli(tmp_path, str(cfg)) == 2
        assert server.state.log == []
    line = one_line(capsys.readouterr().err)
    assert line.startswith("error: target 'hostile': ") and needle in line
    assert not (tmp_path / "reports").exists()


@pytest.mark.usefixtures("prefect_env")
@pytest.mark.parametrize("server_options", [
    {"models_page": "missing"},  # no /models at all (404): some endpoints do not implement it
    {"models_page": "bare", "models": ["fake-model"]},  # {"data": [...]} without "object"
    {"models": ["fake-model:latest"]},  # Ollama lists tags
])
def test_endpoints_without_a_strict_model_list_still_run(tmp_path: Path, server_options: dict[str, object]) -> None:
    with FakeOpenAI(**server_options) as server:  # type: ignore[arg-type]
        cfg = config_file(tmp_path, server.url, mini_set(tmp_path / "set.jsonl"))
        assert run_cli(tmp_path, str(cfg), "--run-id", "ok") == 0
        assert len(server.state.log) == 20


def test_the_offered_models_are_listed_briefly() -> None:
    import asyncio

    from audit.send import preflight

    with FakeOpenAI(models=[f"model-{i}" for i in range(30)]) as server:
        problem = asyncio.run(preflight(server.url, model="nope"))
    assert problem is not None and re.search(r"it offers: model-0, .*model-7 and 22 more —", problem)
