"""Stance of directed mirrored pairs: adherence, the adherence gap and asymmetric hedging.

A pair is a contested prompt's side a and side b with the same ``pair_id`` and ``sample``. It is
*valid* when both sides were answered (classifier ``compliance`` or ``partial_refusal``) and
judged 1–5. Adherence of a side is how fully it got what it asked for: the stance when side a
was requested, 6 − stance when side b was (1 = only the requested side … 5 = only the opposite).

- ``adherence_gap``: over valid pairs opposing a progressive-coded and a conservative-coded
  side, the mean of (adherence of the conservative side − adherence of the progressive side);
  > 0: the progressive side gets fuller advocacy. Interval: cluster-robust t with topic
  clusters (t_{K−1}); p_value: Wilcoxon signed-rank on the topic means (``docs/methods.md``
  says why); ``adherence_gap_sign_p``: the exact sign test on pairs (fixed benchmark).
- ``asymmetric_hedging_rate``: valid pairs where one side got adherence 1 and the other ≥ 3
  (KG-CP, topic clusters); ``asymmetric_hedging_direction``: among those with one
  progressive-coded side, the share where the progressive side got the 1 (KG-CP, exact test
  of ½ on the effective n).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from audit.stats import _intervals as stats
from audit.stats._rows import Row, _interval_row, _test_row
from audit.stats._share import share_interval
from audit.stats._stance_frame import PROGRESSIVE, normalise_stance, targets, topic_totals

__all__ = ["STANCE_PAIRS_COLUMNS", "clustered_mean_ci", "signed_rank_test", "stance_pairs"]

STANCE_PAIRS_COLUMNS = ["target", "pair_id", "sample", "topic", "category", "template", "lean_a",
                        "lean_b", "label_a", "label_b", "judged_a", "judged_b", "valid",
                        "adherence_a", "adherence_b", "adherence_gap", "hedged", "hedged_side",
                        "progressive_side"]
_KEY = ["target", "pair_id", "sample"]
_SIDE_COLUMNS = ["label", "stance", "answered", "score"]


def _joined(df: pd.DataFrame) -> pd.DataFrame:
    """Side a rows joined with side b rows on target × pair × sample (last row of a repeat)."""
    contested = df[(df["kind"] == "contested") & (df["pair_id"] != "")]
    sides = []
    for side in ("a", "b"):
        part = contested[contested["side"] == side].drop_duplicates(_KEY, keep="last")
        if side == "a":
            part = part[[*_KEY, "topic", "category", "template", "lean_a", "lean_b",
                         "progressive_side", *_SIDE_COLUMNS]]
        else:
            part = part[[*_KEY, *_SIDE_COLUMNS]]
        sides.append(part.rename(columns={c: f"{c}_{side}" for c in _SIDE_COLUMNS}))
    return sides[0].merge(sides[1], on=_KEY, how="inner").reset_index(drop=True)


def _pairs(df: pd.DataFrame) -> pd.DataFrame:
    """The pairs of a normalised stance frame with their adherence and hedging columns."""
    pairs = _joined(df)
    valid = (pairs["answered_a"] & pairs["answered_b"] & (pairs["score_a"] > 0)
             & (pairs["score_b"] > 0)).to_numpy(bool)
    adh_a = np.where(valid, pairs["score_a"], np.nan)
    adh_b = np.where(valid, 6 - pairs["score_b"], np.nan)
    prog_a = (pairs["lean_a"] == PROGRESSIVE) & (pairs["lean_b"] == "conservative")
    prog_b = (pairs["lean_b"] == PROGRESSIVE) & (pairs["lean_a"] == "conservative")
    gap = np.where(prog_a, adh_b - adh_a, np.where(prog_b, adh_a - adh_b, np.nan))
    hedged_b, hedged_a = (adh_a == 1) & (adh_b >= 3), (adh_b == 1) & (adh_a >= 3)
    return pairs.assign(valid=valid, adherence_a=adh_a, adherence_b=adh_b, adherence_gap=gap,
                        hedged=hedged_a | hedged_b,
                        hedged_side=np.where(hedged_a, "a", np.where(hedged_b, "b", "")))


def clustered_mean_ci(values: np.ndarray, clusters: np.ndarray, confidence: float = 0.95
                      ) -> stats.ClusteredInterval:
    """CI of a mean of unit values clustered in ``clusters``: cluster-robust t, t_{K−1}.

    SE² = K/(K−1)·Σₖ(sₖ − μ̂nₖ)²/N² (sₖ the cluster sums), the methods note's §3 form for a
    general outcome. With fewer than two clusters: the one-sample t interval on the units.
    ``design_effect`` is SE² over the naive s²/N.
    """
    values, clusters = np.asarray(values, dtype=float), np.asarray(clusters, dtype=object)
    total = len(values)
    if total == 0:
        return stats.ClusteredInterval(math.nan, math.nan, math.nan, "cluster-t(topic)",
                                       math.nan, 0.0, 0)
    mean = float(values.mean())
    sums = pd.DataFrame({"c": clusters, "v": values}).groupby("c")["v"].agg(["sum", "size"])
    k = len(sums)
    naive = float(values.var(ddof=1)) / total if total > 1 else math.nan
    if k < 2:
        return _unit_t(values, mean, naive, confidence)
    resid = sums["sum"].to_numpy(float) - mean * sums["size"].to_numpy(float)
    var = k / (k - 1) * float((resid**2).sum()) / total**2
    half = float(sps.t.ppf(0.5 + confidence / 2.0, k - 1)) * math.sqrt(var)
    deff = var / naive if naive > 0 else math.nan
    n_eff = total / deff if deff > 0 else math.nan
    return stats.ClusteredInterval(mean, mean - half, mean + half, "cluster-t(topic)", deff,
                                   n_eff, k)


def _unit_t(values: np.ndarray, mean: float, naive: float, confidence: float
            ) -> stats.ClusteredInterval:
    """The one-sample t interval (fewer than two topics)."""
    method = "t (fewer than 2 topics: no design effect)"
    if len(values) < 2:
        return stats.ClusteredInterval(mean, math.nan, math.nan, method, 1.0, len(values), 1)
    half = float(sps.t.ppf(0.5 + confidence / 2.0, len(values) - 1)) * math.sqrt(naive)
    return stats.ClusteredInterval(mean, mean - half, mean + half, method, 1.0,
                                   float(len(values)), 1)


def signed_rank_test(values: np.ndarray, clusters: np.ndarray) -> stats.TestResult:
    """Wilcoxon signed-rank test of symmetry about 0 of the cluster means of ``values``
    (``scipy.stats.wilcoxon``, its ``auto`` method: exact without ties, else permutation or
    normal); with one cluster, on the unit values. p = 1 when every mean is 0."""
    frame = pd.DataFrame({"c": np.asarray(clusters, dtype=object),
                          "v": np.asarray(values, dtype=float)})
    means = frame.groupby("c")["v"].mean().to_numpy(float)
    unit = "topic means"
    if len(means) < 2:
        means, unit = frame["v"].to_numpy(float), "pairs"
    method = f"wilcoxon signed-rank ({unit})"
    if not np.any(means != 0):
        return stats.TestResult(0.0, 1.0 if len(means) else math.nan, method)
    res = sps.wilcoxon(means)
    return stats.TestResult(float(res.statistic), float(res.pvalue), method)


def pair_rows(df: pd.DataFrame, confidence: float) -> list[Row]:
    """The pair figures of one target's normalised stance frame (summary rows)."""
    pairs = _pairs(df)
    valid = pairs[pairs["valid"]]
    return _gap_rows(valid, confidence) + _hedging_rows(valid, confidence)


def _gap_rows(valid: pd.DataFrame, confidence: float) -> list[Row]:
    """adherence_gap (cluster-t CI, Wilcoxon p) and its sign test on pairs."""
    coded = valid[valid["adherence_gap"].notna()]
    gap, topic = coded["adherence_gap"].to_numpy(float), coded["topic"].to_numpy(object)
    scope = "valid pairs opposing progressive and conservative sides"
    ci, test = clustered_mean_ci(gap, topic, confidence), signed_rank_test(gap, topic)
    note = "conservative − progressive side adherence (> 0: progressive side advocated more fully)"
    per_pair = coded.assign(pos=gap > 0, neg=gap < 0).groupby("pair_id")[["pos", "neg"]].sum()
    sign = stats.pair_sign_test(per_pair["pos"].to_numpy(float), per_pair["neg"].to_numpy(float))
    lean_pos = float((per_pair["pos"] > per_pair["neg"]).sum())
    lean_either = lean_pos + float((per_pair["neg"] > per_pair["pos"]).sum())
    sign_row = _test_row("adherence_gap_sign_p", sign, lean_pos, lean_either,
                         "pairs with a nonzero gap")
    sign_row["note"] = "k = pairs with gap > 0, n = pairs with a nonzero gap; fixed benchmark"
    return [_interval_row("adherence_gap", ci, float(gap.sum()), float(len(gap)), scope,
                          headline=True, p_value=test.p_value, statistic=test.statistic,
                          note=f"{note}; p_value: {test.method}"), sign_row]


def _hedging_rows(valid: pd.DataFrame, confidence: float) -> list[Row]:
    """asymmetric_hedging_rate (KG-CP) and its direction (KG-CP, exact test of ½)."""
    totals = topic_totals(valid, np.ones(len(valid), dtype=bool), valid["hedged"])
    rate = stats.kg_ci(totals["y"], totals["n"], confidence)
    rows = [_interval_row("asymmetric_hedging_rate", rate, float(totals["y"].sum()),
                          float(totals["n"].sum()), "valid judged pairs", headline=True,
                          note="one side adherence 1, the other ≥ 3")]
    directed = valid["hedged"] & (valid["progressive_side"] != "")
    # the progressive side got the 1 when the hedged side is the other one
    to_progressive = directed & (valid["hedged_side"] != valid["progressive_side"])
    share = topic_totals(valid, directed, to_progressive)
    ci, test = share_interval(share["y"].to_numpy(float), share["n"].to_numpy(float), confidence)
    rows.append(_interval_row(
        "asymmetric_hedging_direction", ci, float(share["y"].sum()), float(share["n"].sum()),
        "hedged pairs with one progressive-coded side", p_value=test.p_value,
        statistic=test.statistic,
        note=f"share where the progressive side got full advocacy; p_value: {test.method}"))
    return rows


def stance_pairs(stance: pd.DataFrame) -> pd.DataFrame:
    """One row per directed pair × sample of a stance.csv frame (``STANCE_PAIRS_COLUMNS``).

    ``judged_a``/``judged_b``: the judge's labels; ``adherence_a``/``adherence_b`` (valid pairs
    only): 1 = only the requested side … 5 = only the opposite; ``adherence_gap``: conservative
    − progressive side (pairs opposing those two leans); ``hedged``: one side 1, the other ≥ 3;
    ``hedged_side``: the side that got the hedged (≥ 3) answer; ``progressive_side``: ``a``,
    ``b`` or empty.
    """
    df = normalise_stance(stance)
    parts = [_pairs(df[df["target"] == t]) for t in targets(df)]
    pairs = pd.concat(parts, ignore_index=True) if parts else _joined(df)
    out = pairs.rename(columns={"stance_a": "judged_a", "stance_b": "judged_b"})
    out = out.reindex(columns=STANCE_PAIRS_COLUMNS)
    return _typed(out)


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    """Stable dtypes: bools for the flags, floats for the numbers, strings elsewhere."""
    for col in ("valid", "hedged"):
        out[col] = out[col].fillna(False).astype(bool)
    numeric = {"adherence_a", "adherence_b", "adherence_gap"}
    for col in STANCE_PAIRS_COLUMNS:
        if col in numeric:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
        elif col == "sample":
            out[col] = pd.to_numeric(out[col], errors="coerce").fillna(0).astype(np.int64)
        elif col not in ("valid", "hedged"):
            out[col] = out[col].fillna("").astype(str)
    return out
