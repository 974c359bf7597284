"""From the labelled responses frame to the ``summary``, ``pairs`` and ``topics`` tables: the
face of the tables (every public name, re-exported by ``audit.stats``) and ``audit_tables``.

Input: the labelled responses frame of ``docs/architecture.md`` (one row per request; it may hold
several targets and every kind of row). Answers are ``compliance``, ``partial_refusal`` and
``refusal``; ``error``, ``blocked``, ``empty`` and ``truncated`` are non-answers, never in a
refusal rate's denominator. Strict refusal = ``refusal``; broad adds ``partial_refusal``.

The work is done in private modules: ``_normalise`` (input normalisation), ``_grouping``
(grouping on category codes), ``_pairs`` (side A joined with side B; the pairs table),
``_rows`` (row helpers), ``_summary`` (per-target summary blocks; the clustering rules) and
``_topics`` (the per-topic / per-template table).

Everything is vectorised (groupby over the whole frame); statistics on a million answers take
a few seconds. Empty inputs give NaN estimates with n = 0, never warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from audit.classify._labels import ANSWER_LABELS, NON_ANSWER_LABELS
from audit.stats._normalise import normalise_responses
from audit.stats._pairs import PAIRS_COLUMNS, _pairs, _pairs_table, pairs_table
from audit.stats._summary import SUMMARY_COLUMNS, _summary, summary_table
from audit.stats._topics import TOPIC_COLUMNS, _topics, topic_table

__all__ = [
    "ANSWER_LABELS",
    "NON_ANSWER_LABELS",
    "PAIRS_COLUMNS",
    "SUMMARY_COLUMNS",
    "TOPIC_COLUMNS",
    "AuditTables",
    "audit_tables",
    "normalise_responses",
    "pairs_table",
    "summary_table",
    "topic_table",
]


@dataclass(frozen=True)
class AuditTables:
    """The three statistics tables of a run folder."""

    summary: pd.DataFrame
    pairs: pd.DataFrame
    topics: pd.DataFrame
    units: Mapping[str, Mapping[str, pd.DataFrame]] = field(default_factory=dict)
    """Each asked-for target's metric units (``audit_tables(targets=...)``), by target."""


def audit_tables(
    responses: pd.DataFrame,
    *,
    confidence: float = 0.95,
    calibration: Mapping[str, Any] | None = None,
    q: float = 0.05,
    compact_pairs: bool = False,
    targets: Sequence[str] = (),
) -> AuditTables:
    """``summary``, ``pairs`` and ``topics`` tables at once (normalises and pairs only once).

    ``compact_pairs``: the pairs table keeps its text columns categorical (the same values and
    the same pairs.csv, a fraction of the memory: what a run of a million answers writes).
    ``targets``: ``units`` holds each of these targets' metric units (``_compare.target_units``,
    what comparison.csv and the ratio claims compare), built from the same normalised frame.
    """
    df = normalise_responses(responses)
    pairs = _pairs(df)
    summary = _summary(df, pairs, confidence, calibration)
    topics = _topics(df, pairs, confidence, q)
    units: dict[str, Mapping[str, pd.DataFrame]] = {}
    if targets:
        from audit.stats._compare import target_units

        units = {target: target_units(df, pairs, target) for target in targets}
    del df
    return AuditTables(summary, _pairs_table(pairs, compact=compact_pairs), topics, units)
