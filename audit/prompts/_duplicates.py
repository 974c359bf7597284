"""Prompts that repeat another prompt's exact text. A request id is a hash of what is sent, so
a run keeps one answer per text (whichever prompt's answer came first): 500 prompts with 139
distinct texts give 139 answers per target and sample. A run refuses that unless ``allow_duplicate_texts``
is set (``run --allow-duplicate-texts``); ``prompts check`` reports the same groups (as
``duplicate-text``, which also catches texts equal up to case and spaces)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from audit.errors import InputError
from audit.prompts._schema import Prompt

__all__ = ["duplicate_groups", "duplicate_texts_error", "refuse_duplicate_texts", "repeated_prompts"]

SHOWN = 3
"""Groups of duplicate ids named in the error (the rest are counted)."""


def duplicate_groups(prompts: Iterable[Prompt]) -> list[list[str]]:
    """The ids of prompts sharing one exact text, a group per text that appears more than once,
    in the order their second occurrence appears (the first duplicate's group first)."""
    groups: dict[str, list[str]] = {}
    order: list[str] = []
    for p in prompts:
        ids = groups.setdefault(p.text, [])
        ids.append(p.id)
        if len(ids) == 2:
            order.append(p.text)
    return [groups[text] for text in order]


def repeated_prompts(prompts: Iterable[Prompt]) -> int:
    """How many prompts repeat the text of an earlier one (their answers would be collapsed)."""
    return sum(len(ids) - 1 for ids in duplicate_groups(prompts))


def _line_of(path: str | Path, prompt_id: str) -> int | None:
    """The line of the prompt-set file that holds ``prompt_id`` (None if it cannot be found)."""
    try:
        with Path(path).open(encoding="utf-8-sig") as fh:
            for no, line in enumerate(fh, 1):
                if prompt_id in line and json.loads(line).get("id") == prompt_id:
                    return no
    except (OSError, ValueError, AttributeError):
        return None
    return None


def duplicate_texts_error(prompts: Sequence[Prompt], path: str | Path) -> InputError | None:
    """The one-line error for prompts that repeat a text (None when every text is distinct):
    names the file and line of the first duplicate, and the duplicate ids."""
    groups = duplicate_groups(prompts)
    if not groups:
        return None
    repeated = sum(len(ids) - 1 for ids in groups)
    shown = "; ".join(" = ".join(f"'{i}'" for i in ids[:5]) + (" …" if len(ids) > 5 else "") for ids in groups[:SHOWN])
    more = f" and {len(groups) - SHOWN} more group(s)" if len(groups) > SHOWN else ""
    distinct = len(prompts) - repeated
    return InputError(path, _line_of(path, groups[0][1]),
                      f"{repeated} of {len(prompts)} prompts repeat another's exact text ({shown}{more}): "
                      f"a run keeps one answer per text, so only {distinct} answers per target and sample",
                      "make every text unique, or set allow_duplicate_texts = true (run --allow-duplicate-texts) "
                      "to audit each distinct text once")


def refuse_duplicate_texts(prompts: Sequence[Prompt], path: str | Path, allow: bool = False) -> int:
    """Raise the ``duplicate_texts_error`` unless ``allow``; return how many prompts repeat a text."""
    if not allow and (error := duplicate_texts_error(prompts, path)):
        raise error
    return repeated_prompts(prompts)
