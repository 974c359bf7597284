"""A prompt whose text (or id, or topic) is only whitespace is refused, not sent (issue 17, b):
``refusal-audit run`` stops in one line naming the file, line and field; ``prompts check``
lists it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import mini_set


def blank(tmp_path: Path, line: int, field: str, value: str) -> Path:
    path = mini_set(tmp_path / "set.jsonl")
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    rows[line - 1][field] = value
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.usefixtures("prefect_env")
@pytest.mark.parametrize("field,value", [("text", "   "), ("text", "\t\n \u00a0\u3000"), ("topic", " "), ("id", "  ")])
def test_run_refuses_a_whitespace_only_field(tmp_path: Path, fake_server: FakeOpenAI,
                                             capsys: pytest.CaptureFixture[str], field: str, value: str) -> None:
    prompts = blank(tmp_path, 3, field, value)
    assert main(["run", "--reports-dir", str(tmp_path / "reports"), "--no-progress", "--base-url", fake_server.url,
                 "--model", "m", "--prompts", str(prompts)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"set.jsonl:3: field '{field}' is only whitespace" in err
    assert f"write the {field} of that prompt, or delete the line" in err
    assert fake_server.state.log == []


def test_prompts_check_lists_a_whitespace_only_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = blank(tmp_path, 5, "text", " \t ")
    assert main(["prompts", "check", str(prompts)]) == 1
    out = capsys.readouterr().out
    assert "line 5: field 'text': is only whitespace" in " ".join(out.split())
