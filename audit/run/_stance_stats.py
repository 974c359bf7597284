"""The stance statistics of a run (issue #16): when the run folder holds stance.csv, its summary
rows (appended to summary.csv's), stance_topics.csv (per-topic lean, BH-flagged) and
stance_pairs.csv (each directed pair's adherence per side and whether it was hedged; pairs.csv
itself is left as it is). A run without stance.csv gets none of them: its files do not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit.stance import STANCE_CSV

__all__ = ["StanceTables", "add_missing_stance", "stance_tables", "with_ratio_claims", "with_stance_rows",
           "write_stance_tables"]


@dataclass(frozen=True)
class StanceTables:
    """The stance figures of a run, ready to write."""

    summary: pd.DataFrame
    topics: pd.DataFrame
    pairs: pd.DataFrame
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    """stance.csv as read (text cells): the ratio claims on stance metrics need it."""


def read_stance(run_dir: Path) -> pd.DataFrame | None:
    """stance.csv as text cells, or None when the run folder has none (stance was not judged)."""
    from audit.csvio import read_csv

    path = Path(run_dir) / STANCE_CSV
    if not path.is_file():
        return None
    try:
        return read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return None


def stance_tables(run_dir: Path, calibration: dict[str, Any] | None = None,
                  confidence: float = 0.95) -> StanceTables | None:
    """The stance figures of ``run_dir``'s stance.csv; None when there is none."""
    from audit.stats import stance_pairs, stance_summary, stance_topics

    frame = read_stance(run_dir)
    if frame is None:
        return None
    summary = stance_summary(frame, confidence=confidence, calibration=calibration)
    return StanceTables(summary, stance_topics(frame, confidence=confidence), stance_pairs(frame), frame)


def with_stance_rows(summary: pd.DataFrame, stance: StanceTables | None) -> pd.DataFrame:
    """summary.csv's rows, then the stance rows (the same columns; a column one side lacks is
    left empty, ``headline`` False)."""
    if stance is None or stance.summary.empty:
        return summary
    extra = stance.summary.reindex(columns=list(dict.fromkeys([*summary.columns, *stance.summary.columns])))
    if "headline" in extra.columns:
        extra["headline"] = extra["headline"].astype(object).where(extra["headline"].notna(), False).astype(bool)
    return pd.concat([summary, extra], ignore_index=True)


def write_stance_tables(run_dir: Path, stance: StanceTables | None) -> None:
    """stance_topics.csv and stance_pairs.csv (nothing without stance figures)."""
    from audit.csvio import write_csv
    from audit.report._stance_view import STANCE_PAIRS_CSV, STANCE_TOPICS_CSV

    if stance is None:
        return
    write_csv(stance.topics, Path(run_dir) / STANCE_TOPICS_CSV)
    write_csv(stance.pairs, Path(run_dir) / STANCE_PAIRS_CSV)


def with_ratio_claims(claims: pd.DataFrame, responses: pd.DataFrame, references: str | None,
                      targets: list[str], stance: StanceTables | None,
                      units: Mapping[str, Mapping[str, pd.DataFrame]] | None = None) -> pd.DataFrame:
    """claims.csv's rows, then the verdicts on the ratio claims of ``references`` (the packaged
    references.toml when None: "B's rate is less than half of A's") — only in a run with two
    or more targets: one target has nothing to compare with (``refusal-audit compare`` compares
    two runs). ``units``: each target's metric units, already built (``Tables.units``)."""
    from audit.stats import evaluate_ratio_claims, load_ratio_claims

    if len(targets) < 2 or not (ratio := load_ratio_claims(references)):
        return claims
    rows = evaluate_ratio_claims(responses, ratio, stance=None if stance is None else stance.frame,
                                 target_units=units)
    return pd.concat([claims, rows], ignore_index=True) if len(rows) else claims


def add_missing_stance(run_dir: Path) -> bool:
    """For ``refusal-audit report`` on an existing run folder: when it has stance.csv but
    summary.csv holds no stance figure (a folder judged before its statistics knew the stance),
    append them and write stance_topics.csv / stance_pairs.csv. True when it did."""
    from audit.csvio import read_csv, write_csv

    path = Path(run_dir) / "summary.csv"
    if not (Path(run_dir) / STANCE_CSV).is_file() or not path.is_file():
        return False
    summary = read_csv(path, keep_default_na=True)
    if "metric" not in summary.columns or summary["metric"].astype(str).isin(["biased_answer_rate"]).any():
        return False
    stance = stance_tables(Path(run_dir))
    if stance is None or stance.summary.empty:
        return False
    write_stance_tables(Path(run_dir), stance)
    write_csv(with_stance_rows(summary, stance), path)
    return True
