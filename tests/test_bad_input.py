"""Bad input: one clear line naming file, line and field, exit 2, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.helpers import control_line, mini_set, pair_lines, write_set


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
    from audit.prompts import load_prompt_set

    assert len(load_prompt_set(write_set(tmp_path / "c.jsonl", [control_line(1, "control_refuse")]))) == 1
