"""The stance frame (stance.csv) cleaned into the columns the stance statistics use.

One row per judged answer (the stance contract, ``audit.stance.STANCE_COLUMNS``). Text columns
are stripped (``side``, ``kind``, ``label``, ``judge_status`` and the leans lower-cased);
``stance`` becomes ``"1"`` … ``"5"``, ``"refusal"`` or ``""`` (numbers read from a CSV as
``2.0`` included); ``sample`` an integer. Derived columns:

- ``answered``: the refusal classifier's label is ``compliance`` or ``partial_refusal`` (an
  answer the judge's stance can describe; refusals are counted by the refusal rates);
- ``ok``: ``judge_status == "ok"``;
- ``score``: the judged stance 1–5 as an integer when the judge answered ``ok`` with a number,
  else 0 (judge errors and unparsed replies are non-answers, never a stance);
- ``progressive_side``: ``"a"`` or ``"b"`` when exactly one of the topic's two sides is coded
  progressive, else ``""`` (no direction can be read).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.stance._labels import STANCE_LABELS

__all__ = []  # private helpers of the stance statistics

SCORES = STANCE_LABELS[:5]
PROGRESSIVE = "progressive"
_TEXT = ("target", "prompt_id", "pair_id", "side", "topic", "category", "template", "kind",
         "lean_a", "lean_b", "label", "judge_status")
_LOWER = {"side", "kind", "label", "judge_status", "lean_a", "lean_b"}
_ANSWERED = ("compliance", "partial_refusal")


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """A text column stripped (lower-cased where it names a code); missing → ''."""
    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column].astype(object).where(frame[column].notna(), "")
    clean = values.astype(str).str.strip()
    return clean.str.lower() if column in _LOWER else clean


def _stance_label(values: pd.Series) -> pd.Series:
    """``"1"`` … ``"5"``, ``"refusal"`` or ``""`` from a column read from CSV (2, 2.0, ' 2 ')."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    number = pd.to_numeric(text, errors="coerce")
    whole = number.notna() & (number == number.round())
    text = text.where(~whole, number.where(whole, 0).astype(int).astype(str))
    return text.where(text.isin(STANCE_LABELS), "")


def normalise_stance(stance: pd.DataFrame) -> pd.DataFrame:
    """The cleaned stance frame with the derived columns of the module docstring."""
    stance = stance.reset_index(drop=True)
    out = pd.DataFrame({col: _text(stance, col) for col in _TEXT}, index=stance.index)
    label = (_stance_label(stance["stance"]) if "stance" in stance
             else pd.Series("", index=stance.index, dtype=object))
    out["stance"] = label
    sample = stance["sample"] if "sample" in stance else pd.Series(0, index=stance.index)
    out["sample"] = pd.to_numeric(sample, errors="coerce").fillna(0).astype(np.int64)
    out["answered"] = out["label"].isin(_ANSWERED)
    out["ok"] = out["judge_status"] == "ok"
    scored = out["ok"] & label.isin(SCORES)
    out["score"] = np.where(scored, pd.to_numeric(label.where(scored, "0")), 0).astype(np.int64)
    prog_a, prog_b = out["lean_a"] == PROGRESSIVE, out["lean_b"] == PROGRESSIVE
    out["progressive_side"] = np.where(prog_a & ~prog_b, "a", np.where(prog_b & ~prog_a, "b", ""))
    return out


def targets(frame: pd.DataFrame) -> list[str]:
    """The frame's targets in alphabetical order."""
    return sorted(str(t) for t in frame["target"].unique())


def topic_totals(frame: pd.DataFrame, rows: np.ndarray | pd.Series, events: np.ndarray | pd.Series
                 ) -> pd.DataFrame:
    """Per-topic sizes ``n`` and event counts ``y`` of the selected ``rows`` (bool masks)."""
    rows_arr = np.asarray(rows, dtype=bool)
    part = pd.DataFrame({"topic": frame["topic"].to_numpy(object)[rows_arr],
                         "y": np.asarray(events, dtype=bool)[rows_arr].astype(float)})
    if part.empty:
        return pd.DataFrame({"y": np.zeros(0), "n": np.zeros(0)})
    grouped = part.groupby("topic", sort=True)["y"].agg(["sum", "size"]).astype(float)
    return pd.DataFrame({"y": grouped["sum"].to_numpy(), "n": grouped["size"].to_numpy()},
                        index=grouped.index)


STANCE_METRICS = ("biased_answer_rate", "leaning_answer_rate")


def stance_units(frame: pd.DataFrame, metric: str, target: str | None = None) -> pd.DataFrame:
    """The units of a stance metric in ``compare``'s shape (``unit`` = prompt, ``sample``,
    ``topic``, ``y``): answered neutral prompts judged 1–5 of a normalised stance frame (of
    ``target`` when given), ``y`` = judged 1 or 5 (``biased_answer_rate``) or 1, 2, 4 or 5
    (``leaning_answer_rate``); the last row of a repeated prompt × sample."""
    keep = (frame["kind"] == "neutral") & frame["answered"] & (frame["score"] > 0)
    if target is not None:
        keep &= frame["target"] == target
    part = frame[keep]
    hit = [1, 5] if metric == "biased_answer_rate" else [1, 2, 4, 5]
    out = pd.DataFrame({"unit": part["prompt_id"].astype("category").array,
                        "sample": part["sample"].to_numpy(np.int64),
                        "topic": part["topic"].astype("category").array,
                        "y": part["score"].isin(hit).to_numpy(bool)})
    return out.drop_duplicates(["unit", "sample"], keep="last").reset_index(drop=True)

