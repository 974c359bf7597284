"""The balance checker (audit.promptcheck) and `refusal-audit prompts check|stats`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from audit.cli import _prompts as cli_prompts
from audit.errors import InputError
from audit.prompts._check import CHECKS, check_file, length_ratio, stats

ROOT = Path(__file__).resolve().parents[2]


def side(
    topic: str, template: str, s: str, lean: str | None, text: str | None = None, **extra: Any
) -> dict[str, Any]:
    pid = f"{topic}.{template}"
    return {
        "id": f"{pid}.{s}",
        "pair_id": pid,
        "side": s,
        "topic": topic,
        "template": template,
        "stance": f"{topic} {s}",
        "lean": lean,
        "text": text or f"Argue for {topic} side {s} in {template}.",
        **extra,
    }


def balanced_rows() -> list[dict[str, Any]]:
    """Two topics, two templates each, leans alternating between sides: passes every check."""
    rows = []
    for topic, (la, lb) in (
        ("t1", ("progressive", "conservative")),
        ("t2", ("conservative", "progressive")),
    ):
        for template in ("argue", "essay"):
            rows += [side(topic, template, "a", la), side(topic, template, "b", lb)]
    rows.append({"id": "c1", "topic": "x", "kind": "control_comply", "text": "What is rain?"})
    return rows


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def found(path: Path) -> dict[str, list[str]]:
    return {c: [p.message for p in ps] for c, ps in check_file(path).by_check().items() if ps}


def test_balanced_set_passes(tmp_path: Path) -> None:
    report = check_file(write(tmp_path / "s.jsonl", balanced_rows()))
    assert report.ok and report.prompts == 9
    assert report.lean_sides["progressive"] == {"a": 2, "b": 2}


def test_collects_every_problem_at_once(tmp_path: Path) -> None:
    rows = balanced_rows()
    rows[0]["colour"] = "red"  # unknown field
    rows[1] = {**rows[1], "template": "essay2"}  # template differs between sides
    rows[3]["text"] = "x" * 200  # length outlier
    rows[5]["text"] = rows[4]["text"].upper()  # duplicate text (case-insensitive)
    del rows[7]  # pair missing side b
    rows.append(
        {"id": "c1", "topic": "x", "kind": "control_refuse", "text": "Harm?"}
    )  # duplicate id
    rows.append({"id": "bad", "topic": "x", "kind": "nonsense", "text": "y"})  # schema
    rows.append({"id": "c2", "topic": "x", "kind": "control_refuse", "text": "q", "side": "a"})
    problems = found(write(tmp_path / "s.jsonl", rows))
    assert set(problems) == {
        "unknown-field",
        "pair-mismatch",
        "length-ratio",
        "duplicate-text",
        "missing-side",
        "duplicate-id",
        "schema",
        "topic-sides",
        "control-paired",
    }
    assert "line 1: unknown field(s) colour" in problems["unknown-field"][0]
    assert "pair 't1.essay': length ratio" in problems["length-ratio"][0]
    assert "t2.essay" in problems["missing-side"][0]


def test_unknown_field_line_is_still_checked(tmp_path: Path) -> None:
    rows = balanced_rows()
    rows[0]["note"] = "hi"
    rows[0]["text"] = "y" * 300
    problems = found(write(tmp_path / "s.jsonl", rows))
    assert set(problems) == {"unknown-field", "length-ratio"}


def test_template_text_must_match_outside_the_stance(tmp_path: Path) -> None:
    rows = balanced_rows()
    rows[0]["text"] = f"Argue that {rows[0]['stance']}."
    rows[1]["text"] = f"Argue strongly that {rows[1]['stance']}."
    assert found(write(tmp_path / "s.jsonl", rows)) == {
        "template-text": ["pair 't1.argue': texts differ outside the stance"]
    }
    rows[1]["text"] = f"Argue that {rows[1]['stance']}."
    assert check_file(write(tmp_path / "s.jsonl", rows)).ok


def test_lean_imbalance(tmp_path: Path) -> None:
    rows = [
        r
        for topic in ("t1", "t2", "t3")
        for template in ("argue", "essay")
        for r in (
            side(topic, template, "a", "progressive"),
            side(topic, template, "b", "conservative"),
        )
    ]
    problems = found(write(tmp_path / "s.jsonl", rows))
    assert set(problems) == {"lean-balance"}
    assert any("'progressive': 6 on side a vs 0 on side b" in m for m in problems["lean-balance"])


def test_lean_check_skips_no_lean_and_tolerates_small_gaps(tmp_path: Path) -> None:
    rows = [
        r
        for n in range(12)
        for r in (
            side(f"t{n}", "argue", "a", "n/a" if n else "other"),
            side(f"t{n}", "argue", "b", "n/a"),
        )
    ]
    report = check_file(write(tmp_path / "s.jsonl", rows))
    assert report.ok  # 'other': 1 vs 0 is within the minimum allowed gap of 2


def test_length_ratio_threshold(tmp_path: Path) -> None:
    assert length_ratio("ab", "abcd") == 2.0 and length_ratio("", "a") == 1.0
    rows = balanced_rows()
    rows[0]["text"] = "z" * int(len(rows[1]["text"]) * 1.55)
    path = write(tmp_path / "s.jsonl", rows)
    assert check_file(path).ok
    assert not check_file(path, max_ratio=1.5).ok


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{broken\n", "not valid JSON"),
        (b"[1]\n", "JSON object"),
        (b"\xff\n", "UTF-8"),
        (b"\n\n", "empty"),
    ],
)
def test_malformed_files_raise_input_error(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=needle):
        check_file(path)


def test_missing_file_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such prompt set"):
        check_file(tmp_path / "nope.jsonl")


def test_stats_counts(tmp_path: Path) -> None:
    rows = balanced_rows()
    from audit.prompts._schema import Prompt

    counts = stats(Prompt.model_validate(r) for r in rows)
    assert counts["kind"] == {"contested": 8, "control_comply": 1}
    assert counts["topic"] == {"t1": 4, "t2": 4} and counts["control topic"] == {"x": 1}
    assert counts["template"]["(none)"] == 1 and counts["lean"]["progressive"] == 4


# ---------------------------------------------------------------- CLI


@pytest.fixture
def app() -> typer.Typer:
    """A fresh app with only the prompts commands (independent of the rest of the CLI)."""
    application = typer.Typer()
    application.command("noop")(lambda: None)  # keep 'prompts' a sub-group, not the root
    cli_prompts.register(application)
    return application


def test_cli_check_ok_and_fail(tmp_path: Path, app: typer.Typer) -> None:
    good = write(tmp_path / "good.jsonl", balanced_rows())
    result = CliRunner().invoke(app, ["prompts", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert "OK: 9 prompts pass every check" in result.output
    bad = write(tmp_path / "bad.jsonl", balanced_rows()[:-2])
    result = CliRunner().invoke(app, ["prompts", "check", str(bad)])
    assert result.exit_code == 1
    assert "missing-side" in result.output and "FAIL" in result.output
    for check in CHECKS:
        assert check in result.output


def test_cli_stats(tmp_path: Path, app: typer.Typer) -> None:
    path = write(tmp_path / "demo-v3.jsonl", balanced_rows())
    result = CliRunner().invoke(app, ["prompts", "stats", str(path)])
    assert result.exit_code == 0, result.output
    for needle in (
        "demo-v3 v3",
        "by kind",
        "by category",
        "by template",
        "lean × side",
        "by topic",
        "t1",
    ):
        assert needle in result.output


def test_cli_prints_data_with_brackets_literally(tmp_path: Path, app: typer.Typer) -> None:
    """Ids, topics, fields and paths are data, never rich markup."""
    rows = balanced_rows()
    rows[-1]["topic"] = "[/bold] [red]x"
    stats_run = CliRunner().invoke(
        app, ["prompts", "stats", str(write(tmp_path / "[y].jsonl", rows))]
    )
    assert stats_run.exit_code == 0, stats_run.output
    assert "[/bold] [red]x" in stats_run.output and "[y] vunversioned" in stats_run.output
    rows[0]["[/x]"] = 1
    check_run = CliRunner().invoke(
        app, ["prompts", "check", str(write(tmp_path / "[z].jsonl", rows))]
    )
    assert check_run.exit_code == 1, check_run.output
    flat = "".join(check_run.output.split())  # rich wraps long paths
    assert "unknownfield(s)[/x]" in flat and "[z].jsonl" in flat


def test_main_exit_codes(tmp_path: Path) -> None:
    """Through the real entry point: 0 ok, 1 failed check, 2 malformed input."""
    from audit import cli

    assert cli.main(["prompts", "check", str(ROOT / "prompts" / "contested-v1.jsonl")]) == 0
    assert (
        cli.main(["prompts", "check", str(write(tmp_path / "bad.jsonl", balanced_rows()[:-2]))])
        == 1
    )
    assert cli.main(["prompts", "check", str(write(tmp_path / "broken.jsonl", ["{oops"]))]) == 2
    assert cli.main(["prompts", "stats", str(tmp_path / "missing.jsonl")]) == 2
