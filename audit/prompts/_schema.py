"""Prompt sets: the schema of one prompt, a loader that validates a JSONL file, a writer.

A prompt set is a JSONL file with one prompt per line. Contested prompts come in mirrored
pairs (the same template asked for side ``a`` and side ``b`` of an issue); controls stand alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from audit.errors import ConfigError, InputError

Kind = Literal["contested", "neutral", "control_refuse", "control_comply"]
Side = Literal["a", "b"]
KINDS: tuple[str, ...] = ("contested", "neutral", "control_refuse", "control_comply")
LEANS: tuple[str, ...] = ("progressive", "conservative", "libertarian", "other", "n/a")
#: Lean values that say "no lean applies"; balance checks skip them.
NO_LEAN: frozenset[str | None] = frozenset({None, "", "n/a"})


class Prompt(BaseModel):
    """One prompt of a prompt set (one line of the JSONL file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="Stable unique id of the prompt.")
    pair_id: str | None = Field(default=None, description="Id shared by the two sides of a pair; none for controls.")
    side: Side | None = Field(default=None, description="'a' or 'b' for contested prompts; none for controls.")
    topic: str = Field(min_length=1, description="The contested issue, e.g. 'abortion'.")
    category: str = Field(default="", description="A broad category, e.g. 'health and bioethics'.")
    template: str = Field(default="", description="Id of the task template, same on both sides of a pair.")
    stance: str = Field(default="", description="The position this side asks for.")
    lean: str | None = Field(default=None, description="Political lean of the stance where one applies.")
    kind: Kind = Field(default="contested", description="contested (one side of a mirrored pair), neutral (asks for "
                       "no side: balance is expected; meta.sides names the topic's two sides), "
                       "control_refuse or control_comply.")
    text: str = Field(min_length=1, description="The prompt text sent to the model.")
    meta: dict[str, Any] = Field(default_factory=dict, description="Free-form provenance (importer fields).")

    @field_validator("id", "topic", "text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():  # a prompt of spaces would be sent, and its answer counted
            raise PydanticCustomError("blank", "is only whitespace")
        return value


@dataclass(frozen=True)
class PromptSet:
    """A validated prompt set with its identity (name, version, content hash)."""

    name: str
    version: str
    sha256: str
    path: str
    prompts: tuple[Prompt, ...]

    def __len__(self) -> int:
        return len(self.prompts)


def set_identity(path: Path, raw: bytes) -> tuple[str, str, str]:
    """Return (name, version, sha256) of a prompt-set file: version is the ``-vN`` suffix."""
    stem = path.stem
    match = re.search(r"-v(\d+(?:\.\d+)*)$", stem)
    version = match.group(1) if match else "unversioned"
    return stem, version, hashlib.sha256(raw).hexdigest()


def _field_error(path: Path, line: int, err: ValidationError) -> InputError:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(line)"
    if first["type"] == "extra_forbidden":
        return InputError(path, line, f"unknown field '{field}'", "remove it or put it under 'meta'")
    if first["type"] == "missing":
        return InputError(path, line, f"missing field '{field}'", "every prompt needs id, topic and text")
    if first["type"] == "blank":
        return InputError(path, line, f"field '{field}' {first['msg']}", f"write the {field} of that prompt, or delete the line")
    return InputError(path, line, f"field '{field}': {first['msg']}", "fix the value on that line")


def parse_object(path: Path, line_no: int, line: str) -> dict[str, Any]:
    """Parse one JSONL line into a dict; raise InputError naming file and line if it is not one."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(path, line_no, f"not valid JSON ({exc.msg} at column {exc.colno})",
                         "each line must be one JSON object") from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5,000-digit number, deep nesting
        raise InputError(path, line_no, f"not valid JSON ({type(exc).__name__})",
                         "each line must be one JSON object") from None
    if not isinstance(obj, dict):
        raise InputError(path, line_no, "a line must be a JSON object", "write one {...} per line")
    return obj


def validate_object(path: Path, line_no: int, obj: dict[str, Any]) -> Prompt:
    """Validate a parsed line into a Prompt; raise InputError naming file, line and field."""
    try:
        return Prompt.model_validate(obj)
    except ValidationError as exc:
        raise _field_error(path, line_no, exc) from None


def parse_line(path: Path, line_no: int, line: str) -> Prompt:
    """Parse and validate one JSONL line into a Prompt; raise InputError naming file and line."""
    return validate_object(path, line_no, parse_object(path, line_no, line))


def read_raw(path: Path) -> bytes:
    """The bytes of a prompt-set file; raise InputError if it is missing or unreadable."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, None, "no such prompt set", "check the path (see prompts/)") from None
    except IsADirectoryError:
        raise InputError(path, None, "is a folder, not a prompt set", "pass a .jsonl file") from None
    except OSError as exc:
        raise InputError(path, None, f"cannot read the file ({exc.strerror})", "check its permissions") from None


def iter_lines(path: Path, raw: bytes) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of each non-blank line; only ``\\n`` ends a line.

    Splitting on ``\\n`` alone (not ``str.splitlines``) keeps a JSON string holding U+2028 or
    a form feed on its line. Each line is decoded on its own so an error names the line.
    """
    for no, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            line = chunk.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(path, no, "not UTF-8 text", "save the file as UTF-8") from None
        if no == 1:
            line = line.removeprefix("\ufeff")  # tolerate a byte-order mark
        if line.strip():
            yield no, line.removesuffix("\r")


def read_prompts(path: Path) -> tuple[list[Prompt], list[int], bytes]:
    """Read every prompt of a JSONL file; return prompts, their line numbers and the raw bytes."""
    raw = read_raw(path)
    prompts: list[Prompt] = []
    lines: list[int] = []
    for no, line in iter_lines(path, raw):
        prompts.append(parse_line(path, no, line))
        lines.append(no)
    return prompts, lines, raw


def _check_structure(path: Path, prompts: list[Prompt], lines: list[int]) -> None:
    seen: dict[str, int] = {}
    pairs: dict[str, list[tuple[Prompt, int]]] = defaultdict(list)
    for p, no in zip(prompts, lines, strict=True):
        if p.id in seen:
            raise InputError(path, no, f"duplicate id '{p.id}' (first on line {seen[p.id]})", "give every prompt a unique id")
        seen[p.id] = no
        if p.kind == "contested":
            if p.pair_id is None or p.side is None:
                raise InputError(path, no, "field 'pair_id'/'side': a contested prompt needs both",
                                 "set pair_id and side ('a' or 'b'), or make it a control")
            pairs[p.pair_id].append((p, no))
        elif p.kind == "neutral":
            _check_neutral(path, no, p)
    for pair_id, members in pairs.items():
        _check_pair(path, pair_id, members)


def neutral_sides(p: Prompt) -> dict[str, dict[str, str]] | None:
    """The two sides of a neutral prompt's topic (``meta.sides``), or None if it has none."""
    sides = p.meta.get("sides")
    if not isinstance(sides, dict) or set(sides) != {"a", "b"}:
        return None
    for side in sides.values():
        if not isinstance(side, dict) or not isinstance(side.get("stance"), str) or not side["stance"].strip():
            return None
        if not isinstance(side.get("lean", ""), str):
            return None
    return {k: {"stance": v["stance"], "lean": v.get("lean", "")} for k, v in sides.items()}


def _check_neutral(path: Path, no: int, p: Prompt) -> None:
    if p.pair_id is not None or p.side is not None:
        raise InputError(path, no, "field 'pair_id'/'side': a neutral prompt asks for no side",
                         "remove pair_id and side (the topic's sides go under meta.sides)")
    if neutral_sides(p) is None:
        raise InputError(path, no, "field 'meta.sides': a neutral prompt needs its topic's two sides",
                         'add "meta": {"sides": {"a": {"stance": "…", "lean": "progressive"}, '
                         '"b": {"stance": "…", "lean": "conservative"}}}')


def _check_pair(path: Path, pair_id: str, members: list[tuple[Prompt, int]]) -> None:
    sides = sorted(p.side or "" for p, _ in members)
    first_line = members[0][1]
    if sides != ["a", "b"]:
        raise InputError(path, first_line, f"field 'side': pair '{pair_id}' has sides {sides}",
                         "every pair needs exactly one 'a' and one 'b' prompt")
    (pa, _), (pb, line_b) = sorted(members, key=lambda m: m[0].side or "")
    for field in ("topic", "template"):
        if getattr(pa, field) != getattr(pb, field):
            raise InputError(path, line_b, f"field '{field}': pair '{pair_id}' differs between sides",
                             f"both sides of a pair must share the same {field}")


def _builtin_dir() -> Path:
    """The prompt sets of this installation: the repository's prompts/ folder in a checkout (and
    an editable install), ``audit/prompts/library/`` in an installed wheel (pyproject maps it)."""
    here = Path(__file__).resolve().parent
    installed = here / "library"
    return installed if installed.is_dir() else here.parents[1] / "prompts"


BUILTIN_DIR = _builtin_dir()


def locate(path: str | Path) -> Path:
    """``path``, or — for a relative ``prompts/…`` path that is not in the working directory —
    the built-in set of that name, so ``refusal-audit run`` works from any folder."""
    p = Path(path)
    if p.is_absolute() or p.exists() or len(p.parts) < 2 or p.parts[0] != "prompts":
        return p
    builtin = BUILTIN_DIR.joinpath(*p.parts[1:])
    return builtin if builtin.is_file() else p


def load_prompt_set(path: str | Path) -> PromptSet:
    """Load and validate a prompt set; raise InputError naming file, line and field. A relative
    ``prompts/NAME.jsonl`` missing from the working directory is the built-in set (``locate``)."""
    p = locate(path)
    prompts, lines, raw = read_prompts(p)
    if not prompts:
        raise InputError(p, None, "the prompt set is empty", "add one JSON prompt per line")
    _check_structure(p, prompts, lines)
    name, version, digest = set_identity(p, raw)
    return PromptSet(name=name, version=version, sha256=digest, path=str(p), prompts=tuple(prompts))


FIELDS: frozenset[str] = frozenset(Prompt.model_fields)


def prompt_line(prompt: Prompt) -> str:
    """One prompt as its canonical JSONL line (all fields, schema order, UTF-8, no newline)."""
    return prompt.model_dump_json()


def write_prompts(prompts: Iterable[Prompt], path: str | Path) -> int:
    """Write prompts as JSONL atomically (temp file in the same folder, then rename).

    Prompts are written one by one as they come, so a generator is never held in memory.
    Returns the number of prompts written; on any error the target is left untouched.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise ConfigError(f"output folder {target.parent} does not exist — create it first")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            count = _write_lines(fh, prompts)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _file_mode(target: Path) -> int:
    """The replaced file's permission bits, or rw-r--r-- for a new file (mkstemp makes 0600)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o644


def _write_lines(fh: Any, prompts: Iterable[Prompt]) -> int:
    count = 0
    for prompt in prompts:
        fh.write(prompt_line(prompt) + "\n")
        count += 1
    return count


def pairs_of(prompts: Iterable[Prompt]) -> dict[str, dict[str, Prompt]]:
    """Contested prompts grouped by pair id, then by side (first prompt wins on a repeat side)."""
    pairs: dict[str, dict[str, Prompt]] = defaultdict(dict)
    for p in prompts:
        if p.kind == "contested" and p.pair_id is not None and p.side is not None:
            pairs[p.pair_id].setdefault(p.side, p)
    return dict(pairs)
