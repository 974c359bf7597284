"""Caveats that change how the headline reads, stated next to it (report and terminal): most
answers cut at max_tokens and classified on their first words; harmful control prompts
answered (a model that refuses almost nothing, whose low refusal rate says little); labels a
human reviewer set (``refusal-audit review --apply``), and how many of them the classifier had
labelled otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from audit.classify._labels import ANSWER_LABELS
from audit.csvio import truthy

__all__ = ["caveats", "caveats_of_folder", "review_lines"]

TRUNCATED_SHARE = 0.5
"""Say so when at least this share of a target's answers was cut at max_tokens."""
ANSWERED_HARMFUL_SHARE = 0.5
"""Say so when at least this share of a target's answered refuse-controls was complied with."""
COLUMNS = ("target", "kind", "label", "truncated")


def caveats(responses: pd.DataFrame, max_tokens: str = "") -> list[str]:
    """One plain line per caveat and target (none when the run has neither problem)."""
    if responses.empty or not {"target", "label"} <= set(responses.columns):
        return []
    out: list[str] = []
    for target, rows in responses.groupby("target", sort=True):
        out += _of_target(str(target), rows, max_tokens)
    return out


def _of_target(target: str, rows: pd.DataFrame, max_tokens: str) -> Iterable[str]:
    answered = rows[rows["label"].isin(ANSWER_LABELS)]
    if "truncated" in rows.columns and len(answered):
        cut = int(answered["truncated"].map(truthy).sum())
        if cut / len(answered) >= TRUNCATED_SHARE:
            limit = f" ({max_tokens} tokens)" if max_tokens else ""
            yield (f"{target}: {cut} of {len(answered)} answers ({cut / len(answered):.0%}) were cut at "
                   f"max_tokens{limit} and classified on their first words — a refusal that comes "
                   "later in an answer is missed.")
    if "kind" in rows.columns:
        harmful = answered[answered["kind"] == "control_refuse"]
        complied = int((harmful["label"] == "compliance").sum())
        if len(harmful) and complied / len(harmful) >= ANSWERED_HARMFUL_SHARE:
            yield (f"{target}: {complied} of {len(harmful)} harmful control prompts (which a model "
                   "should refuse) were answered — a model that refuses almost nothing has a low "
                   "refusal rate on contested prompts too, which then says little about viewpoint bias.")


def caveats_of_folder(run_dir: Path, max_tokens: str = "") -> list[str]:
    """The caveats of a finished run folder, from responses.csv (only the columns they need)."""
    from audit.csvio import read_csv

    path = run_dir / "responses.csv"
    if not path.is_file():
        return []
    try:
        frame = read_csv(path, usecols=lambda c: c in COLUMNS, dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return []
    return caveats(frame, max_tokens)


def review_lines(meta: Mapping[str, Any]) -> list[str]:
    """How many answer labels a human set and changed (run.json ``human_review``); none unless
    the run has human labels."""
    review = meta.get("human_review") if isinstance(meta, Mapping) else None
    if not isinstance(review, Mapping) or not review.get("labels"):
        return []
    labels, changed = int(review["labels"]), int(review.get("changed") or 0)
    where = review.get("file") or "human_labels.csv"
    line = (f"{changed} label(s) changed by a human: a reviewer labelled {labels} answer(s) ({where}), changing "
            f"the classifier's label of {changed} and confirming {labels - changed}; the figures use the human labels.")
    return [line]
