"""Build ``prompts/contested-v1.jsonl`` and ``contested-v2.jsonl`` from the tables beside this script.

    .venv/bin/python prompts/src/build_contested.py                          # rewrite both files
    .venv/bin/python prompts/src/build_contested.py --version 2 --out X      # one version elsewhere

- ``topics.tsv``: topic, category, region, stance_1, lean_1, stance_2, lean_2
- ``templates.tsv``: template id, text with a ``{stance}`` slot (the same text on both sides)
- ``controls.tsv``: kind (control_refuse | control_comply), topic, text
- ``neutral_templates.tsv`` (v2 only): template id, text with ``{first}`` and ``{second}`` slots

v2 is v1 (the same lines, in the same order) followed by the ``neutral`` prompts: every topic ×
every neutral template, naming both of the topic's stances, so no side is asked for and a
balanced answer is expected. Which stance is named first alternates over topics and templates
(``meta.first``), so each topic and each template names side a first half the time;
``meta.sides`` holds the topic's two sides exactly as its pairs put them on sides a and b.

Which stance becomes side ``a`` is chosen per topic by :func:`audit.prompts.balanced_swaps`
with a fixed seed, so every lean sits on side a about as often as on side b. The output is
deterministic: running the script twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

from audit.prompts import Prompt, balanced_swaps, write_prompts

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "contested-v1.jsonl"
VERSIONS = (1, 2)
SEED = 1


def default_out(version: int) -> Path:
    """Where version ``version`` of the set is shipped: ``prompts/contested-v<version>.jsonl``."""
    return HERE.parent / f"contested-v{version}.jsonl"


def read_tsv(name: str) -> list[dict[str, str]]:
    """Rows of a tab-separated table in this folder."""
    with (HERE / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def side_stances(topic: dict[str, str], swap: bool) -> list[tuple[str, str]]:
    """[(stance, lean) of side a, (stance, lean) of side b] for a topic row."""
    stances = [(topic["stance_1"], topic["lean_1"]), (topic["stance_2"], topic["lean_2"])]
    return stances[::-1] if swap else stances


def topic_prompts(
    topic: dict[str, str], templates: list[dict[str, str]], swap: bool
) -> Iterator[Prompt]:
    """Both sides of every template for one topic."""
    for tpl in templates:
        pair_id = f"{topic['topic']}.{tpl['template']}"
        for side, (stance, lean) in zip(("a", "b"), side_stances(topic, swap), strict=True):
            yield Prompt(
                id=f"{pair_id}.{side}",
                pair_id=pair_id,
                side=side,
                topic=topic["topic"],
                category=topic["category"],
                template=tpl["template"],
                stance=stance,
                lean=lean,
                kind="contested",
                text=tpl["text"].format(stance=stance),
                meta={"region": topic["region"]},
            )


def topic_swaps() -> list[tuple[dict[str, str], bool]]:
    """Every topic row with whether its stance 2 goes on side a (seeded lean balancing)."""
    topics = read_tsv("topics.tsv")
    swaps = balanced_swaps([(t["lean_1"], t["lean_2"]) for t in topics], seed=SEED)
    return list(zip(topics, swaps, strict=True))


def contested_prompts() -> Iterator[Prompt]:
    """Every contested prompt, topics in table order, sides balanced by lean."""
    templates = read_tsv("templates.tsv")
    for topic, swap in topic_swaps():
        yield from topic_prompts(topic, templates, swap)


def neutral_prompts() -> Iterator[Prompt]:
    """Every topic × neutral template; which side is named first alternates (Latin pattern)."""
    templates = read_tsv("neutral_templates.tsv")
    for t_no, (topic, swap) in enumerate(topic_swaps()):
        (stance_a, lean_a), (stance_b, lean_b) = side_stances(topic, swap)
        sides = {"a": {"stance": stance_a, "lean": lean_a}, "b": {"stance": stance_b, "lean": lean_b}}
        for tpl_no, tpl in enumerate(templates):
            first = "a" if (t_no + tpl_no) % 2 == 0 else "b"
            second = "b" if first == "a" else "a"
            yield Prompt(
                id=f"{topic['topic']}.neutral.{tpl['template']}",
                topic=topic["topic"],
                category=topic["category"],
                template=tpl["template"],
                kind="neutral",
                text=tpl["text"].format(first=sides[first]["stance"], second=sides[second]["stance"]),
                meta={"region": topic["region"], "sides": sides, "first": first},
            )


def control_prompts() -> Iterator[Prompt]:
    """Controls numbered within kind and topic: ``control.refuse.cbrn.01``."""
    numbers: Counter[tuple[str, str]] = Counter()
    for row in read_tsv("controls.tsv"):
        key = (row["kind"], row["topic"])
        numbers[key] += 1
        short = row["kind"].removeprefix("control_")
        yield Prompt(
            id=f"control.{short}.{row['topic']}.{numbers[key]:02d}",
            topic=row["topic"],
            category="control",
            kind=row["kind"],
            text=row["text"],
        )  # type: ignore[arg-type]


def build(out: Path = DEFAULT_OUT, version: int = 1) -> int:
    """Write version ``version`` of the set to ``out`` atomically; return the number of prompts.

    v1: contested prompts, then controls. v2: v1's lines, then the neutral prompts.
    """
    if version not in VERSIONS:
        raise SystemExit(f"unknown version {version}: use one of {VERSIONS}")
    v1 = chain(contested_prompts(), control_prompts())
    return write_prompts(v1 if version == 1 else chain(v1, neutral_prompts()), out)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", type=int, choices=VERSIONS, help="one version only (default: all)")
    parser.add_argument("--out", type=Path, help="file to write (with --version)")
    args = parser.parse_args(argv)
    if args.out is not None and args.version is None:
        parser.error("--out needs --version")
    for version in [args.version] if args.version else VERSIONS:
        out = args.out or default_out(version)
        print(f"wrote {build(out, version)} prompts to {out}")


if __name__ == "__main__":
    main()
