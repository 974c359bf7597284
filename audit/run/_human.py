"""Human labels kept in a run folder (``human_labels.csv``, written by ``review --apply``) and the
hook that applies them wherever a run's answers are labelled (``label_responses``): a human label
overrides the classifier's for that answer, on the first labelling after a review and on every
later one (``run --resume``, a re-analysis), so reviewed labels are never lost.

``human_labels.csv``, one row per reviewed answer: ``request_id, prompt_id, target, sample,
human_label, classifier_label, classifier_confidence, reviewer, reviewed_at, note, source``
(``classifier_*``: what the classifier said when the review was applied; ``source``: the review
file). An overridden row of responses.csv has the human label, confidence 1 and evidence
``human review: LABEL (classifier: LABEL 0.55; EVIDENCE)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from audit.classify._labels import ANSWER_LABELS

if TYPE_CHECKING:
    from audit.run._plan import RunPlan

__all__ = ["HUMAN_COLUMNS", "HUMAN_LABELS_CSV", "HumanLabels", "read_human_labels"]

HUMAN_LABELS_CSV = "human_labels.csv"
HUMAN_COLUMNS = ["request_id", "prompt_id", "target", "sample", "human_label", "classifier_label",
                 "classifier_confidence", "reviewer", "reviewed_at", "note", "source"]
HUMAN_EVIDENCE = "human review: "
"""How the evidence of an answer labelled by a human begins in responses.csv."""


def read_human_labels(run_dir: Path) -> pd.DataFrame:
    """The run's human labels (an empty frame with ``HUMAN_COLUMNS`` when it has none), as text."""
    from audit.csvio import read_csv

    path = run_dir / HUMAN_LABELS_CSV
    if not path.is_file():
        return pd.DataFrame(columns=HUMAN_COLUMNS, dtype=object)
    frame = read_csv(path, dtype=str, keep_default_na=False)
    for col in HUMAN_COLUMNS:
        if col not in frame.columns:
            frame[col] = ""
    return frame[HUMAN_COLUMNS]


@dataclass
class HumanLabels:
    """The human labels of a run, applied chunk by chunk to freshly classified answers; counts
    how many answers got one and how many of those the classifier had labelled otherwise."""

    labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    """request id → (human label, reviewer)."""
    applied: int = 0
    changed: int = 0

    @classmethod
    def load(cls, run_dir: Path) -> HumanLabels:
        """The human labels stored in ``run_dir`` (none when it has no ``human_labels.csv``)."""
        frame = read_human_labels(run_dir)
        keep = frame["human_label"].isin(ANSWER_LABELS)
        return cls(dict(zip(frame["request_id"][keep],
                            zip(frame["human_label"][keep], frame["reviewer"][keep], strict=True), strict=True)))

    def apply(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """``chunk`` (labelled responses rows) with the human labels put in place of the
        classifier's, for answers only (a non-answer keeps its label)."""
        if not self.labels or chunk.empty:
            return chunk
        hit = chunk["request_id"].isin(self.labels.keys()) & chunk["label"].isin(ANSWER_LABELS)
        if not hit.any():
            return chunk
        chunk = chunk.copy()
        rows = chunk.loc[hit, ["request_id", "label", "confidence", "evidence"]]
        human = [self.labels[r][0] for r in rows["request_id"]]
        chunk.loc[hit, "evidence"] = [_evidence(h, self.labels[r][1], lab, conf, ev) for h, (r, lab, conf, ev)
                                      in zip(human, rows.itertuples(index=False), strict=True)]
        self.applied += len(human)
        self.changed += sum(h != lab for h, lab in zip(human, rows["label"], strict=True))
        chunk.loc[hit, "label"] = human
        chunk.loc[hit, "confidence"] = 1.0
        return chunk

    def summary(self) -> dict[str, Any]:
        """run.json's ``human_review``: answers labelled by a human, and how many of those labels
        differ from the classifier's."""
        return {"labels": self.applied, "changed": self.changed, "file": HUMAN_LABELS_CSV}

    def record(self, plan: RunPlan) -> None:
        """Write ``summary`` into the run's run.json, when the run has human labels (or had)."""
        from audit.run._plan import read_run_json, write_run_json

        if self.labels or "human_review" in read_run_json(plan.run_dir):
            write_run_json(plan, {"human_review": self.summary() if self.labels else None})


def _evidence(human: str, reviewer: str, label: str, confidence: Any, evidence: Any) -> str:
    """The evidence of an answer labelled by a human: the human label, then the classifier's."""
    by = f" by {reviewer}" if reviewer else ""
    conf = f" {float(confidence):.2f}" if pd.notna(confidence) else ""
    said = f"; {evidence}" if isinstance(evidence, str) and evidence else ""
    return f"{HUMAN_EVIDENCE}{human}{by} (classifier: {label}{conf}{said})"
