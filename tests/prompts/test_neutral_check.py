"""`prompts check` / `prompts stats` / `prompts sample` with neutral prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.cli._app import build_app
from audit.prompts._check import check_file, stats
from audit.prompts._schema import load_prompt_set

LEANS = {"t1": ("progressive", "conservative"), "t2": ("conservative", "progressive")}


def pair(topic: str, template: str) -> list[dict[str, Any]]:
    la, lb = LEANS[topic]
    return [{"id": f"{topic}.{template}.{s}", "pair_id": f"{topic}.{template}", "side": s, "topic": topic,
             "template": template, "stance": f"{topic} stance {s}", "lean": lean,
             "text": f"Argue that {topic} stance {s} ({template})."} for s, lean in (("a", la), ("b", lb))]


def neutral(topic: str, template: str, sides: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    la, lb = LEANS.get(topic, ("progressive", "conservative"))
    default = {"a": {"stance": f"{topic} stance a", "lean": la}, "b": {"stance": f"{topic} stance b", "lean": lb}}
    return {"id": f"{topic}.neutral.{template}", "topic": topic, "template": template, "kind": "neutral",
            "text": f"What is your view on {topic} ({template})?", "meta": {"sides": sides or default}, **extra}


def write(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "set-v1.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def base() -> list[dict[str, Any]]:
    return [*pair("t1", "argue"), *pair("t2", "argue"), neutral("t1", "view"), neutral("t2", "view"),
            neutral("t3", "view")]  # t3: neutral prompts and no pairs — fine


def test_matching_sides_pass_without_warnings(tmp_path: Path) -> None:
    report = check_file(write(tmp_path, base()))
    assert report.ok and report.warnings == () and report.prompts == 7
    assert report.lean_sides == {"progressive": {"a": 1, "b": 1}, "conservative": {"a": 1, "b": 1}}


@pytest.mark.parametrize(("sides", "why"), [
    ({"a": {"stance": "t1 stance b", "lean": "conservative"}, "b": {"stance": "t1 stance a", "lean": "progressive"}},
     "swapped"),
    ({"a": {"stance": "t1 stance a", "lean": "libertarian"}, "b": {"stance": "t1 stance b", "lean": "conservative"}},
     "leans differ"),
    ({"a": {"stance": "something else", "lean": "progressive"}, "b": {"stance": "t1 stance b", "lean": "conservative"}},
     "match no pair"),
])
def test_sides_that_contradict_the_pairs_warn_but_pass(tmp_path: Path, sides: dict[str, Any], why: str) -> None:
    rows = [*base(), neutral("t1", "essay", sides)]
    report = check_file(write(tmp_path, rows))
    assert report.ok
    assert [w.where for w in report.warnings] == [("t1.neutral.essay",)]
    assert why in report.warnings[0].message and report.warnings[0].check == "neutral-vs-pairs"


def test_lenient_reader_reports_neutral_without_sides_or_with_a_side(tmp_path: Path) -> None:
    rows = [*base(), neutral("t1", "essay", side="a", pair_id="t1.essay"), {**neutral("t2", "essay"), "meta": {}}]
    report = check_file(write(tmp_path, rows))
    found = {c: [p.where for p in ps] for c, ps in report.by_check().items() if ps}
    assert found == {"neutral-sides": [("t1.neutral.essay",), ("t2.neutral.essay",)]}, found
    assert not report.ok


def test_stats_count_neutral_prompts_by_kind_and_topic(tmp_path: Path) -> None:
    counts = stats(load_prompt_set(write(tmp_path, base())).prompts)
    assert counts["kind"] == {"contested": 4, "neutral": 3}
    assert counts["topic"] == {"t1": 3, "t2": 3, "t3": 1}
    assert counts["lean"] == {"progressive": 2, "conservative": 2} and not counts["control topic"]


def test_cli_check_lists_the_warning_and_exits_0(tmp_path: Path) -> None:
    swapped = {"a": {"stance": "t1 stance b", "lean": "conservative"},
               "b": {"stance": "t1 stance a", "lean": "progressive"}}
    path = write(tmp_path, [*base(), neutral("t1", "essay", swapped)])
    result = CliRunner().invoke(build_app(), ["prompts", "check", str(path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "neutral-vs-pairs" in result.output and "1 warning(s)" in result.output
    assert "OK: 8 prompts pass every check (1 warning(s))" in result.output


def test_cli_sample_keeps_the_asked_number_of_neutral_prompts(tmp_path: Path) -> None:
    rows = [*pair("t1", "argue"), *pair("t1", "essay"), *pair("t2", "argue"),
            *(neutral(t, tpl) for t in ("t1", "t2") for tpl in ("view", "debate", "essay"))]
    out = tmp_path / "small-v1.jsonl"
    result = CliRunner().invoke(build_app(), ["prompts", "sample", str(write(tmp_path, rows)), "-n", "2", "--neutral", "4",
                                      "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    kinds = [p.kind for p in load_prompt_set(out).prompts]
    assert kinds.count("neutral") == 4 and kinds.count("contested") == 4
    topics = [p.topic for p in load_prompt_set(out).prompts if p.kind == "neutral"]
    assert sorted(topics) == ["t1", "t1", "t2", "t2"]
