"""The prompt schema, the validating loader and the atomic writer (audit.prompts)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from audit.errors import ConfigError, InputError
from audit.prompts._schema import (
    Prompt,
    load_prompt_set,
    pairs_of,
    prompt_line,
    set_identity,
    write_prompts,
)
from tests.support.prompt_sets import pair_lines, write_set


def pair(
    pid: str = "t.argue", topic: str = "t", template: str = "argue"
) -> list[dict[str, object]]:
    """Both sides of a minimal pair as dicts."""
    return [
        {
            "id": f"{pid}.{s}",
            "pair_id": pid,
            "side": s,
            "topic": topic,
            "template": template,
            "text": f"Argue side {s} of {pid}.",
        }
        for s in ("a", "b")
    ]


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text(
        "".join(
            (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
        ),
        encoding="utf-8",
    )
    return path


def test_loads_a_valid_set_with_identity(tmp_path: Path) -> None:
    control = {"id": "c1", "topic": "x", "kind": "control_comply", "text": "Hi"}
    path = write_lines(tmp_path / "demo-v2.jsonl", [*pair(), control])
    ps = load_prompt_set(path)
    assert (ps.name, ps.version, len(ps)) == ("demo-v2", "2", 3)
    assert ps.sha256 == set_identity(path, path.read_bytes())[2]
    assert ps.prompts[2].kind == "control_comply"


def test_version_is_unversioned_without_suffix() -> None:
    assert set_identity(Path("demo.jsonl"), b"")[1] == "unversioned"


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ("1" * 5000, "not valid JSON"),  # int too long: ValueError, not JSONDecodeError
        ("[" * 100_000, "not valid JSON"),  # deep nesting: RecursionError
        ({"id": "x", "topic": "t"}, "missing field 'text'"),
        ({"id": "x", "topic": "t", "text": "y", "colour": 1}, "unknown field 'colour'"),
        ({"id": "x", "topic": "t", "text": "y", "kind": "other"}, "field 'kind'"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, row: object, needle: str) -> None:
    path = write_lines(tmp_path / "s.jsonl", [*pair(), row])
    with pytest.raises(InputError) as err:
        load_prompt_set(path)
    assert err.value.line == 3
    assert needle in str(err.value) and "s.jsonl:3" in str(err.value)


def test_structure_errors(tmp_path: Path) -> None:
    lone = pair()[:1]
    with pytest.raises(InputError, match="sides"):
        load_prompt_set(write_lines(tmp_path / "a.jsonl", lone))
    dup = [*pair(), {**pair()[0], "pair_id": "other"}]
    with pytest.raises(InputError, match="duplicate id"):
        load_prompt_set(write_lines(tmp_path / "b.jsonl", dup))
    mismatch = [pair()[0], {**pair()[1], "template": "essay"}]
    with pytest.raises(InputError, match="template"):
        load_prompt_set(write_lines(tmp_path / "c.jsonl", mismatch))


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such prompt set"):
        load_prompt_set(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="empty"):
        load_prompt_set(write_lines(tmp_path / "e.jsonl", ["", "  "]))
    with pytest.raises(InputError, match="folder"):
        load_prompt_set(tmp_path)


def test_non_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps(pair()[0]).encode() + b"\n\xff\xfe\n")
    with pytest.raises(InputError, match="UTF-8") as err:
        load_prompt_set(path)
    assert err.value.line == 2


def test_line_separator_characters_inside_strings_stay_on_their_line(tmp_path: Path) -> None:
    """U+2028, U+0085 and form feed are not line ends in JSONL (str.splitlines thinks they are)."""
    rows = pair()
    rows[0]["text"] = "a\u2028b\u0085c\x0cd"
    ps = load_prompt_set(write_lines(tmp_path / "s.jsonl", rows))
    assert ps.prompts[0].text == "a\u2028b\u0085c\x0cd"


def test_crlf_and_bom_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(r).encode() for r in pair()) + b"\r\n"
    )
    assert len(load_prompt_set(path)) == 2


def test_write_prompts_round_trips_atomically(tmp_path: Path) -> None:
    prompts = [Prompt.model_validate(r) for r in pair()]
    out = tmp_path / "out-v1.jsonl"
    assert write_prompts(iter(prompts), out) == 2
    assert load_prompt_set(out).prompts == tuple(prompts)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out-v1.jsonl"]


def test_write_prompts_leaves_target_untouched_on_error(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")

    def broken() -> object:
        yield Prompt.model_validate(pair()[0])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_prompts(broken(), out)  # type: ignore[arg-type]
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_write_prompts_needs_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        write_prompts([], tmp_path / "no" / "out.jsonl")


def test_prompt_line_is_one_line_with_every_field() -> None:
    p = Prompt(id="x", topic="t", text="line1\nline2 \u2028", kind="control_comply")
    line = prompt_line(p)
    assert "\n" not in line and set(json.loads(line)) == set(Prompt.model_fields)


def test_pairs_of_groups_contested_by_side() -> None:
    prompts = [Prompt.model_validate(r) for r in [*pair("p1"), *pair("p2")]]
    prompts.append(Prompt(id="c", topic="t", text="x", kind="control_refuse"))
    grouped = pairs_of(prompts)
    assert sorted(grouped) == ["p1", "p2"] and sorted(grouped["p1"]) == ["a", "b"]


def test_the_built_in_set_is_found_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audit.prompts._schema import BUILTIN_DIR, load_prompt_set

    monkeypatch.chdir(tmp_path)
    loaded = load_prompt_set("prompts/contested-v1.jsonl")
    assert Path(loaded.path) == BUILTIN_DIR / "contested-v1.jsonl" and len(loaded.prompts) > 2000
    (tmp_path / "prompts").mkdir()  # a set of that name in the working directory wins
    local = write_set(tmp_path / "prompts" / "contested-v1.jsonl", pair_lines("taxes", "essay"))
    assert Path(load_prompt_set("prompts/contested-v1.jsonl").path) == Path("prompts/contested-v1.jsonl")
    assert local.is_file()
    with pytest.raises(InputError, match="no such prompt set"):
        load_prompt_set("prompts/no-such-set.jsonl")
