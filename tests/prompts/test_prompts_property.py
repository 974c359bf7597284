"""Property tests of the loader: valid sets load; corruptions give InputError naming a line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import InputError
from audit.prompts._schema import Prompt, load_prompt_set

SETTINGS = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
prompt_text = text.filter(str.strip)  # a text of only whitespace is invalid
word = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def prompt_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A valid prompt set as rows: 1–4 topics × 1–3 templates as pairs, plus 0–3 controls."""
    rows: list[dict[str, Any]] = []
    topics = draw(st.lists(word, min_size=1, max_size=4, unique=True))
    for topic in topics:
        for template in draw(st.lists(word, min_size=1, max_size=3, unique=True)):
            pid = f"{topic}.{template}"
            for side in ("a", "b"):
                rows.append(
                    {
                        "id": f"{pid}.{side}",
                        "pair_id": pid,
                        "side": side,
                        "topic": topic,
                        "template": template,
                        "stance": draw(text),
                        "lean": draw(st.none() | word),
                        "text": draw(prompt_text),
                        "meta": {"k": draw(text)},
                    }
                )
    for n in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["control_refuse", "control_comply"]))
        rows.append({"id": f"control.{n}", "topic": draw(word), "kind": kind, "text": draw(prompt_text)})
    return draw(st.permutations(rows))


def dump(rows: list[dict[str, Any]], ascii_only: bool) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in rows).encode("utf-8")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prop") / "set-v1.jsonl"


@SETTINGS
@given(rows=prompt_rows(), ascii_only=st.booleans())
def test_random_valid_sets_load(target: Path, rows: list[dict[str, Any]], ascii_only: bool) -> None:
    target.write_bytes(dump(rows, ascii_only))
    loaded = load_prompt_set(target)
    assert loaded.prompts == tuple(Prompt.model_validate(r) for r in rows)
    assert loaded.version == "1"


def corrupt_row(row: dict[str, Any], how: str, value: Any) -> dict[str, Any]:
    """A row made invalid: a required key dropped, an unknown key added, or a bad value."""
    bad = dict(row)
    if how == "drop":
        del bad[value]
    elif how == "extra":
        bad["unexpected_" + value] = 1
    else:
        bad[how] = value
    return bad


row_corruption = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(["id", "topic", "text"])),
    st.tuples(st.just("extra"), word),
    st.tuples(st.just("kind"), st.sampled_from(["", "contest", 3])),
    st.tuples(st.just("text"), st.sampled_from(["", 5, None, ["x"], " \t\u3000"])),
    st.tuples(st.just("meta"), st.sampled_from(["x", 1, []])),
    st.tuples(st.just("id"), st.sampled_from(["", None, 7])),
)


@SETTINGS
@given(rows=prompt_rows(), data=st.data())
def test_corrupted_row_gives_input_error_on_its_line(
    target: Path, rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(rows) - 1))
    how, value = data.draw(row_corruption)
    rows[i] = corrupt_row(rows[i], how, value)
    target.write_bytes(dump(rows, ascii_only=False))
    with pytest.raises(InputError) as err:
        load_prompt_set(target)
    assert err.value.line == i + 1


@SETTINGS
@given(rows=prompt_rows(), data=st.data())
def test_structural_corruption_gives_input_error_naming_a_line(
    target: Path, rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    contested = [n for n, r in enumerate(rows) if r.get("side")]
    i = data.draw(st.sampled_from(contested))
    how = data.draw(st.sampled_from(["duplicate", "flip_side", "drop_line", "retemplate"]))
    if how == "duplicate":
        rows.insert(i, dict(rows[i]))
    elif how == "flip_side":
        rows[i] = {**rows[i], "side": "b" if rows[i]["side"] == "a" else "a"}
    elif how == "drop_line":
        del rows[i]
    else:
        rows[i] = {**rows[i], "template": rows[i]["template"] + "_x"}
    target.write_bytes(dump(rows, ascii_only=True))
    with pytest.raises(InputError) as err:
        load_prompt_set(target)
    assert isinstance(err.value.line, int) and 1 <= err.value.line <= len(rows)


@SETTINGS
@given(rows=prompt_rows(), data=st.data())
def test_byte_garbage_never_raises_anything_but_input_error(
    target: Path, rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    lines = dump(rows, ascii_only=False).split(b"\n")[:-1]
    i = data.draw(st.integers(0, len(lines) - 1))
    mode = data.draw(st.sampled_from(["truncate", "replace"]))
    if mode == "truncate" and len(lines[i]) > 1:
        lines[i] = lines[i][: data.draw(st.integers(1, len(lines[i]) - 1))]
    else:
        lines[i] = data.draw(st.binary(max_size=60))
    target.write_bytes(b"\n".join(lines) + b"\n")
    try:
        load_prompt_set(target)
    except InputError as exc:
        assert exc.line is not None, str(exc)
