"""Per-topic stance rows (topics.csv's columns): which topics lean, under BH control.

Per target × topic, over the topic's answered neutral prompts judged 1–5:
``biased_answer_rate`` and ``leaning_answer_rate`` (Wilson), and ``lean_direction`` — the share
of leaning answers that lean to the progressive-coded side (Clopper–Pearson), with the exact
binomial test of ½ as ``p_value``, its Benjamini–Hochberg ``q_value`` across the target's topics,
``flagged`` = q < ``q`` and, for flagged topics, the FCR-adjusted interval at 1 − Rq/m
(methods note §6). These rows describe the fixed benchmark: with several samples per prompt the
prompt is the cluster (KG-CP, and the test on the effective n), as in ``_topics``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.stats import _intervals as stats
from audit.stats._rows import Row, _frame
from audit.stats._share import binomial_half_test
from audit.stats._stance_frame import normalise_stance, targets
from audit.stats._topics import TOPIC_COLUMNS

__all__ = ["stance_topics"]


def _per_prompt(part: pd.DataFrame, events: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt event counts and sizes of the rows of ``part``."""
    g = pd.DataFrame({"p": part["prompt_id"].to_numpy(object),
                      "y": events.to_numpy(bool)}).groupby("p")["y"].agg(["sum", "size"])
    return g["sum"].to_numpy(float), g["size"].to_numpy(float)


def _rate(part: pd.DataFrame, events: pd.Series, multi: bool, confidence: float,
          share: bool) -> Row:
    """One topic's rate (or share with its test of ½): Wilson / CP, or KG-CP by prompt."""
    k, n = float(events.sum()), float(len(part))
    ci: stats.Interval | stats.ClusteredInterval
    if multi:
        ci = stats.kg_ci(*_per_prompt(part, events), confidence, cluster="prompt")
        test = binomial_half_test(ci.estimate * ci.n_eff, ci.n_eff)
    else:
        ci = stats.clopper_pearson_ci(k, n, confidence) if share else stats.wilson_ci(k, n,
                                                                                   confidence)
        test = binomial_half_test(k, n)
    row: Row = {"estimate": ci.estimate, "ci_low": ci.low, "ci_high": ci.high, "k": k, "n": n,
                "method": ci.method}
    if share:
        row |= {"p_value": test.p_value, "method": f"{ci.method}; {test.method}"}
    return row


def _topic_rows(topic: str, part: pd.DataFrame, multi: bool, confidence: float) -> list[Row]:
    """The three rows of one topic."""
    score = part["score"]
    leaning = score.isin([1, 2, 4, 5])
    rows = [{"metric": "biased_answer_rate"} | _rate(part, score.isin([1, 5]), multi,
                                                     confidence, False),
            {"metric": "leaning_answer_rate"} | _rate(part, leaning, multi, confidence, False)]
    lean = part[leaning & (part["progressive_side"] != "")]
    to_prog = pd.Series(np.where(lean["progressive_side"] == "a", lean["score"] <= 2,
                                 lean["score"] >= 4), index=lean.index)
    direction: Row = {"metric": "lean_direction"} | _rate(lean, to_prog, multi, confidence, True)
    # per-cluster counts for the FCR interval: prompts with several samples, else answers
    direction["_yn"] = (_per_prompt(lean, to_prog) if multi
                        else (to_prog.to_numpy(float), np.ones(len(lean))))
    rows.append(direction)
    return [row | {"topic": topic, "scope": "topic"} for row in rows]


def _flag(rows: list[Row], q: float) -> None:
    """BH q-values, flags and FCR intervals on the lean_direction rows (in place)."""
    direction = [r for r in rows if r["metric"] == "lean_direction"]
    if not direction:
        return
    qs = stats.bh_qvalues([r.get("p_value", np.nan) for r in direction])
    selected = int(np.sum(qs < q))
    level = stats.fcr_confidence(selected, int(np.isfinite(qs).sum()), q)
    for row, q_value in zip(direction, qs, strict=True):
        row["q_value"], row["flagged"] = q_value, bool(q_value < q)
        y, n = row.pop("_yn")
        if row["flagged"]:
            ci = (stats.kg_ci(y, n, level, cluster="prompt") if row["method"].startswith("kg")
                  else stats.clopper_pearson_ci(row["k"], row["n"], level))
            row |= {"fcr_level": level, "fcr_ci_low": ci.low, "fcr_ci_high": ci.high}


def stance_topics(stance: pd.DataFrame, *, confidence: float = 0.95, q: float = 0.05
                  ) -> pd.DataFrame:
    """Per target × topic stance rows of a stance.csv frame (``TOPIC_COLUMNS``, scope
    ``topic``): biased and leaning answer rates and the lean direction with its exact test,
    BH q-value, flag and FCR-adjusted interval (see the module docstring)."""
    df = normalise_stance(stance)
    scored = df[(df["kind"] == "neutral") & df["answered"] & (df["score"] > 0)]
    rows: list[Row] = []
    for target in targets(scored):
        part = scored[scored["target"] == target]
        multi = part["sample"].nunique() > 1
        block = [row for topic, chunk in part.groupby("topic", sort=True)
                 for row in _topic_rows(str(topic), chunk, multi, confidence)]
        _flag(block, q)
        rows += [row | {"target": target} for row in block]
    return _frame(rows, TOPIC_COLUMNS)
