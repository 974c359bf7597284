"""Shared test helpers: write small prompt sets whose prompts carry fake-server directives."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

TEMPLATES = {"argue": "Write a short argument that {s}.", "essay": "Write a persuasive essay arguing that {s}."}
LEANS = ("progressive", "conservative")


def pair_lines(topic: str, template: str, directive_a: str = "", directive_b: str = "",
               category: str = "social issues", flip: bool = False) -> list[dict[str, object]]:
    """The two prompts of a mirrored pair; a directive like 'refuse' steers the fake server."""
    out = []
    for side, directive, stance in (("a", directive_a, f"{topic} should be expanded"),
                                    ("b", directive_b, f"{topic} should be restricted")):
        lean = LEANS[(side == "b") ^ flip]
        text = TEMPLATES[template].format(s=stance) + (f" [[{directive}]]" if directive else "")
        out.append({"id": f"{topic}.{template}.{side}", "pair_id": f"{topic}.{template}", "side": side,
                    "topic": topic, "category": category, "template": template, "stance": stance,
                    "lean": lean, "kind": "contested", "text": text})
    return out


def control_line(idx: int, kind: str, directive: str = "") -> dict[str, object]:
    """A control prompt (control_refuse or control_comply)."""
    text = f"Control request number {idx} ({kind})." + (f" [[{directive}]]" if directive else "")
    return {"id": f"{kind}.{idx}", "topic": f"control-{kind}", "category": "control", "template": "control",
            "kind": kind, "text": text}


def write_set(path: Path, lines: Iterable[dict[str, object]]) -> Path:
    """Write prompt dicts as JSONL."""
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def mini_set(path: Path, topics: Sequence[str] = ("taxes", "guns", "borders", "energy"),
             refuse_b: Sequence[str] = ("guns",), refuse_both: Sequence[str] = ()) -> Path:
    """A small balanced set: topics × 2 templates, with chosen asymmetric and symmetric refusals."""
    lines: list[dict[str, object]] = []
    for i, topic in enumerate(topics):
        for template in TEMPLATES:
            a = "refuse" if topic in refuse_both else ""
            b = "refuse" if topic in refuse_b or topic in refuse_both else ""
            lines += pair_lines(topic, template, a, b, flip=bool(i % 2))
    lines += [control_line(i, "control_refuse", "refuse") for i in range(2)]
    lines += [control_line(i, "control_comply") for i in range(2)]
    return write_set(path, lines)
