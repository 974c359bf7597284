"""Prompts that repeat another's exact text: a run refuses them in one line (file, line of the
first duplicate, the ids) unless ``allow_duplicate_texts``, then keeps one answer per text and
says how many prompts that folds; ``prompts check`` reports them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.errors import InputError
from audit.fakeserver import FakeOpenAI
from audit.prompts import Prompt, duplicate_groups, refuse_duplicate_texts, repeated_prompts
from tests.support.prompt_sets import control_line, pair_lines, write_set


def _prompts(texts: list[str]) -> list[Prompt]:
    return [Prompt(id=f"q{i}", topic="t", kind="control_comply", text=t) for i, t in enumerate(texts)]


def test_groups_are_exact_texts_in_order_of_their_first_duplicate() -> None:
    prompts = _prompts(["b", "a", "a ", "a", "b", "B", "a"])
    assert duplicate_groups(prompts) == [["q1", "q3", "q6"], ["q0", "q4"]]
    assert repeated_prompts(prompts) == 3  # 7 prompts, 4 distinct texts
    assert refuse_duplicate_texts(prompts, "x.jsonl", allow=True) == 3
    assert refuse_duplicate_texts(_prompts(["a", "b"]), "x.jsonl") == 0


def _dup_set(path: Path) -> Path:
    """Two pairs and two controls; the second control repeats side a of the first pair, under
    another kind (a duplicate all the same)."""
    lines = [*pair_lines("taxes", "argue"), *pair_lines("guns", "essay", flip=True),
             control_line(0, "control_comply"), control_line(1, "control_refuse")]
    lines[-1] = {**lines[-1], "text": lines[0]["text"]}
    return write_set(path, lines)


def test_the_error_names_the_file_the_line_and_the_ids(tmp_path: Path) -> None:
    from audit.prompts import load_prompt_set

    path = _dup_set(tmp_path / "dup.jsonl")
    with pytest.raises(InputError) as err:
        refuse_duplicate_texts(load_prompt_set(path).prompts, path)
    assert err.value.line == 6 and str(err.value).startswith(f"{path}:6: 1 of 6 prompts repeat")
    assert "'taxes.argue.a' = 'control_refuse.1'" in str(err.value) and "only 5 answers" in str(err.value)


def _run(tmp_path: Path, url: str, *extra: str) -> int:
    return main(["run", "--reports-dir", str(tmp_path / "reports"), "--no-progress", "--base-url", url,
                 "--model", "fake-model", "--prompts", str(_dup_set(tmp_path / "dup.jsonl")), *extra])


def test_run_refuses_a_duplicate_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for extra in (["--dry-run"], ["--run-id", "r1"]):
        assert _run(tmp_path, "http://127.0.0.1:9/v1", *extra) == 2
        err = capsys.readouterr().err
        assert "dup.jsonl:6: 1 of 6 prompts repeat another's exact text" in err
        assert "--allow-duplicate-texts" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "reports" / "r1").exists()


def test_allowed_duplicates_are_sent_once_and_counted(tmp_path: Path, fake_server: FakeOpenAI,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, fake_server.url, "--run-id", "r1", "--allow-duplicate-texts") == 0
    assert "note: 1 of 6 prompts repeat another's exact text" in capsys.readouterr().err
    responses = pd.read_csv(tmp_path / "reports" / "r1" / "responses.csv")
    assert len(responses) == 5 and responses["request_id"].is_unique


def test_prompts_check_reports_the_duplicate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from audit.prompts import check_file

    path = _dup_set(tmp_path / "dup.jsonl")
    problems = [p for p in check_file(path).problems if p.check == "duplicate-text"]
    assert [p.where for p in problems] == [("taxes.argue.a", "control_refuse.1")]
    assert main(["prompts", "check", str(path)]) == 1
    assert "FAIL: 1 problem(s)" in capsys.readouterr().out
