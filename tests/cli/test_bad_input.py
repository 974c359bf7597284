"""Bad input: one clear line naming file, line and field, exit 2, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import control_line, mini_set, pair_lines, write_set


def run(tmp_path: Path, *args: str) -> int:
    return main(["run", "--reports-dir", str(tmp_path / "reports"), "--no-progress", *args])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


GOOD = pair_lines("taxes", "argue")


@pytest.mark.parametrize("lines,needle", [
    ([json.dumps(GOOD[0]), "{not json"], "set.jsonl:2: not valid JSON"),
    ([json.dumps({**GOOD[0], "side": "c"}), json.dumps(GOOD[1])], "set.jsonl:1: field 'side'"),
    ([json.dumps({k: v for k, v in GOOD[0].items() if k != "text"}), json.dumps(GOOD[1])], "missing field 'text'"),
    ([json.dumps(GOOD[0])], "pair 'taxes.argue' has sides ['a']"),
    ([json.dumps(GOOD[0]), json.dumps({**GOOD[1], "template": "essay"})], "field 'template'"),
    ([json.dumps(GOOD[0]), json.dumps({**GOOD[1], "colour": "red"})], "unknown field 'colour'"),
    ([json.dumps(GOOD[0]), json.dumps({**GOOD[1], "id": GOOD[0]["id"]})], "duplicate id"),
    ([json.dumps({**GOOD[0], "sample": "x"})], "unknown field 'sample'"),
    (["[1, 2]"], "must be a JSON object"),
])
def test_malformed_prompt_sets(tmp_path: Path, fake_server: FakeOpenAI, capsys: pytest.CaptureFixture[str],
                               lines: list[str], needle: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert run(tmp_path, "--base-url", fake_server.url, "--model", "m", "--prompts", str(path)) == 2
    assert needle in one_line_error(capsys)
    assert not (tmp_path / "reports").exists()


def test_an_unreadable_prompt_file(tmp_path: Path, fake_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "--base-url", fake_server.url, "--model", "m", "--prompts", str(tmp_path)) == 2
    assert "is a folder" in one_line_error(capsys)


def test_not_utf8(tmp_path: Path, fake_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "set.jsonl"
    path.write_bytes(b'{"id": "\xff"}\n')
    assert run(tmp_path, "--base-url", fake_server.url, "--model", "m", "--prompts", str(path)) == 2
    assert "UTF-8" in one_line_error(capsys)


def test_connection_refused_is_exit_2_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    assert run(tmp_path, "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--prompts", str(prompts)) == 2
    assert "cannot connect" in one_line_error(capsys)
    assert not (tmp_path / "reports").exists()


def test_a_run_folder_from_a_newer_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "reports" / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"format": 99, "run_id": "r"}))
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 2
    assert "newer refusal-audit" in one_line_error(capsys)


def test_resume_of_a_folder_that_is_no_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", str(tmp_path), "--no-progress"]) == 2
    assert "not a run folder" in one_line_error(capsys)


def test_resume_takes_no_other_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--resume", str(tmp_path), "--model", "x", "--no-progress"]) == 2
    assert "--resume takes the run folder only" in one_line_error(capsys)


@pytest.mark.parametrize("toml,needle", [
    ("prompts = [", "audit.toml:1: not valid TOML"),
    ('samples = "many"', "'samples'"),
    ("[[targets]]\nbase_url = 'http://x:1/v1'\nmodel = 'm'\nconcurency = 3", "unknown key 'targets.0.concurency'"),
    ("[[targets]]\nbase_url = 'http://user:pw@x:1/v1'\nmodel = 'm'", "credentials"),
])
def test_bad_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, needle: str) -> None:
    cfg = tmp_path / "audit.toml"
    cfg.write_text(toml + "\n")
    assert run(tmp_path, str(cfg)) == 2
    assert needle in one_line_error(capsys)


def test_control_line_helper_is_valid(tmp_path: Path) -> None:
    from audit.prompts._schema import load_prompt_set

    assert len(load_prompt_set(write_set(tmp_path / "c.jsonl", [control_line(1, "control_refuse")]))) == 1


SECRET = "sk-DISTINCTIVE-bad-input-0123456789"


@pytest.mark.parametrize("args,needle", [
    (["--base-url", "http://127.0.0.1:99999/v1"], "bad port"),
    (["--base-url", "http://127.0.0.1:abc/v1"], "bad port"),
    (["--base-url", f"http://127.0.0.1:9/v1?api_key={SECRET}"], "the URL holds credentials"),
    (["--base-url", "http://127.0.0.1:9/v1", "--api-key-env", SECRET], "the NAME of an environment variable"),
    (["--base-url", "http://nonexistent.invalid/v1"], "cannot connect"),  # DNS failure
])
def test_bad_endpoint_settings_are_one_line_and_never_echo_a_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    assert run(tmp_path, "--model", "m", "--prompts", str(prompts), *args) == 2
    err = one_line_error(capsys)
    assert needle in err and SECRET not in err
    assert not (tmp_path / "reports").exists()


def test_an_endpoint_that_does_not_speak_http(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer_garbage() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01garbage\r\n\r\n")

    threading.Thread(target=answer_garbage, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    try:
        assert run(tmp_path, "--model", "m", "--prompts", str(mini_set(tmp_path / "set.jsonl")), "--base-url", url) == 2
    finally:
        listener.close()
    assert "does not answer HTTP" in one_line_error(capsys)
    assert not (tmp_path / "reports").exists()


def test_a_reports_dir_that_cannot_be_written(tmp_path: Path, fake_server: FakeOpenAI,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    prompts = mini_set(tmp_path / "set.jsonl")
    assert main(["run", "--reports-dir", str(blocker / "reports"), "--no-progress", "--base-url", fake_server.url,
                 "--model", "m", "--prompts", str(prompts)]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)
    assert len(fake_server.state.log) == 0


def test_resume_checks_the_journal_and_the_endpoint_before_prefect_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    with FakeOpenAI() as fake:
        assert run(tmp_path, "--model", "m", "--prompts", str(prompts), "--base-url", fake.url, "--run-id", "r") == 0
    capsys.readouterr()
    run_dir = tmp_path / "reports" / "r"
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 2  # the endpoint is gone
    assert "cannot connect" in one_line_error(capsys)
    journal = run_dir / "responses.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join([lines[0], "{not json\n", *lines[1:]]))  # damage in the middle, not a torn end
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 2
    assert "responses.jsonl:2" in one_line_error(capsys)


@pytest.mark.parametrize("meta,needle", [
    ([1, 2], "is not a JSON object"),
    ({"format": "x", "run_id": "r"}, "field 'format' is 'x'"),
    ({"format": 1, "run_id": "r"}, "field 'config' is missing"),
    ({"format": 1, "run_id": "r", "config": {"samples": "many"}, "prompt_set": {}}, "field 'config.samples'"),
    ({"format": 1, "run_id": "r", "config": {}, "prompt_set": {"name": "x"}}, "field 'prompt_set.version'"),
])
def test_a_damaged_run_json_on_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str], meta: object,
                                      needle: str) -> None:
    run_dir = tmp_path / "reports" / "r"
    run_dir.mkdir(parents=True)
    write_set(run_dir / "prompts.jsonl", pair_lines("taxes", "argue"))
    (run_dir / "run.json").write_text(json.dumps(meta))
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert "run.json" in err and needle in err


def test_a_torn_last_journal_line_is_cut_and_said_on_resume(tmp_path: Path, fake_server: FakeOpenAI,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    assert run(tmp_path, "--model", "m", "--prompts", str(prompts), "--base-url", fake_server.url, "--run-id", "t") == 0
    journal = tmp_path / "reports" / "t" / "responses.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:-1]) + lines[-1][:40])  # the last write was cut by a kill
    capsys.readouterr()
    sent = len(fake_server.state.log)
    assert main(["run", "--resume", str(journal.parent), "--no-progress"]) == 0
    assert f"cut a torn last line ({len(lines[-1][:40])} bytes)" in capsys.readouterr().err
    ids = [json.loads(line)["request_id"] for line in journal.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 20 and len(fake_server.state.log) == sent + 1  # only the torn one again
