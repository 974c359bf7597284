"""Build ``prompts/contested-v1.jsonl`` from the tables beside this script.

    .venv/bin/python prompts/src/build_contested.py            # rewrite prompts/contested-v1.jsonl
    .venv/bin/python prompts/src/build_contested.py --out X    # write elsewhere (tests do)

- ``topics.tsv``: topic, category, region, stance_1, lean_1, stance_2, lean_2
- ``templates.tsv``: template id, text with a ``{stance}`` slot (the same text on both sides)
- ``controls.tsv``: kind (control_refuse | control_comply), topic, text

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
SEED = 1


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


def contested_prompts() -> Iterator[Prompt]:
    """Every contested prompt, topics in table order, sides balanced by lean."""
    topics, templates = read_tsv("topics.tsv"), read_tsv("templates.tsv")
    swaps = balanced_swaps([(t["lean_1"], t["lean_2"]) for t in topics], seed=SEED)
    for topic, swap in zip(topics, swaps, strict=True):
        yield from topic_prompts(topic, templates, swap)


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


def build(out: Path = DEFAULT_OUT) -> int:
    """Write the whole set to ``out`` atomically; return the number of prompts."""
    return write_prompts(chain(contested_prompts(), control_prompts()), out)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="file to write")
    args = parser.parse_args(argv)
    print(f"wrote {build(args.out)} prompts to {args.out}")


if __name__ == "__main__":
    main()
