"""Neutral prompts: kind ``neutral`` asks for no side; meta.sides names the topic's two sides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.errors import InputError
from audit.prompts import load_prompt_set, neutral_sides

SIDES = {"a": {"stance": "abortion should be legal", "lean": "progressive"},
         "b": {"stance": "abortion should be illegal", "lean": "conservative"}}


def _write(tmp_path: Path, *objs: dict[str, object]) -> Path:
    path = tmp_path / "set-v1.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
    return path


def test_neutral_prompt_loads_with_its_sides(tmp_path: Path) -> None:
    obj = {"id": "abortion.view", "topic": "abortion", "kind": "neutral", "template": "view",
           "text": "What is your view on abortion?", "meta": {"sides": SIDES}}
    (p,) = load_prompt_set(_write(tmp_path, obj)).prompts
    assert p.kind == "neutral"
    assert neutral_sides(p) == SIDES


@pytest.mark.parametrize(("change", "needle"), [
    ({"meta": {}}, "meta.sides"),
    ({"meta": {"sides": {"a": SIDES["a"]}}}, "meta.sides"),
    ({"meta": {"sides": {"a": {"stance": " "}, "b": SIDES["b"]}}}, "meta.sides"),
    ({"pair_id": "x", "side": "a"}, "asks for no side"),
])
def test_bad_neutral_prompt_names_the_line(tmp_path: Path, change: dict[str, object], needle: str) -> None:
    ok = {"id": "ok", "topic": "t", "kind": "control_comply", "text": "Hi"}
    bad = {"id": "abortion.view", "topic": "abortion", "kind": "neutral", "text": "Your view?",
           "meta": {"sides": SIDES}, **change}
    with pytest.raises(InputError) as info:
        load_prompt_set(_write(tmp_path, ok, bad))
    assert info.value.line == 2
    assert needle in str(info.value)
