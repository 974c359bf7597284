"""Compare two labelled responses frames: two runs, or two targets (methods note §5).

For each metric the units are matched by key (``prompt_id`` × ``sample`` for answers and
requests, ``pair_id`` × ``sample`` for pairs):

- **paired** when at least ``min_overlap`` of each side's units match (same prompts): the
  A × B outcome table on the matched units, δ = p_A − p_B with the topic-clustered
  Bonett–Price interval and the Durkalski test (with fewer than two topics: exact McNemar, or
  with several samples per prompt the exact sign test on prompts, ``stats.pair_sign_test``);
- **independent** otherwise: Newcombe's hybrid score interval and the score test, each run's
  counts deflated to its effective size n/DEFF (topic design effect, §2).

A re-run of the same model at temperature > 0 already gives discordant pairs; the paired
analysis accounts for that.

Beside the difference every row gives the ratio p_B / p_A (``ratio``, ``ratio_low``,
``ratio_high``, ``ratio_method``; ``audit.stats._ratio``): paired, a seeded BCa topic-cluster
bootstrap (widened to the log-ratio cluster-t interval where wider); independent, the
statsmodels score interval on the Korn–Graubard effective counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from audit.stats import _intervals as stats
from audit.stats._normalise import _is, _normalise
from audit.stats._pairs import _pairs
from audit.stats._ratio import ratio_ci_paired, ratio_ci_units
from audit.stats._stance_frame import STANCE_METRICS, normalise_stance, stance_units

__all__ = ["COMPARISON_COLUMNS", "compare_runs", "compare_targets"]

COMPARISON_COLUMNS = ["metric", "design", "label_a", "label_b", "estimate_a", "estimate_b",
                      "k_a", "n_a", "k_b", "n_b", "difference", "ci_low", "ci_high", "method",
                      "p_value", "test", "n_paired", "only_a", "only_b", "clusters", "verdict",
                      "ratio", "ratio_low", "ratio_high", "ratio_method"]
METRICS = ("refusal_rate", "refusal_rate_broad", "asymmetric_refusal_rate", "error_rate",
           "control_comply_refusal_rate")


def _units(df: pd.DataFrame, pairs: pd.DataFrame, metric: str,
           rows: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Columns ``unit`` (prompt or pair id), ``sample``, ``topic``, ``y`` of the metric's units.

    A unit is ``unit`` × ``sample`` (prompt × sample for answers and requests, pair × sample
    for pairs); one row per unit, the last one when a unit repeats. ``unit`` and ``topic``
    stay categorical (codes, no per-row strings). ``rows``: masks of the rows of ``df`` and of
    ``pairs`` to use (all when None).
    """
    if metric == "asymmetric_refusal_rate":
        keep, src, unit, outcome = pairs["valid"].to_numpy(bool), pairs, "pair_id", "asymmetric"
    else:
        if metric == "error_rate":
            keep, outcome = np.ones(len(df), dtype=bool), "is_error"
        else:
            kind = "control_comply" if metric.startswith("control_comply") else "contested"
            keep = _is(df["kind"], kind) & df["answer"].to_numpy(bool)
            outcome = "broad" if metric == "refusal_rate_broad" else "strict"
        src, unit = df, "prompt_id"
    if rows is not None:
        keep = keep & (rows[1] if src is pairs else rows[0])
    out = pd.DataFrame({"unit": src[unit].array[keep], "sample": src["sample"].to_numpy()[keep],
                        "topic": src["topic"].array[keep], "y": src[outcome].to_numpy(bool)[keep]},
                       copy=False)
    last = _last_of_each(out["unit"], out["sample"].to_numpy())
    return out if last is None else out[last].reset_index(drop=True)


def _last_of_each(unit: pd.Series, sample: np.ndarray) -> np.ndarray | None:
    """Mask of the rows that are the last of their ``unit`` (categorical) × ``sample``; None
    when no unit repeats. One stable sort of an int64 key (pandas' ``duplicated`` on two
    columns needs several times the memory)."""
    codes = unit.cat.codes.to_numpy()
    low = int(sample.min()) if len(sample) else 0
    width = int(sample.max()) - low + 1 if len(sample) else 1
    if (len(unit.cat.categories) + 1) * width >= 2**62:  # no room for an int64 key
        return ~unit.to_frame().assign(sample=sample).duplicated(keep="last").to_numpy()
    kind = np.int32 if (len(unit.cat.categories) + 1) * width < 2**31 else np.int64  # 4 bytes a unit
    key = codes.astype(kind)
    key *= width
    key += np.subtract(sample, low, dtype=kind)
    order = np.argsort(key, kind="stable")  # a repeated unit keeps its row order: last is last
    key = key[order]
    last = np.ones(len(key), dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    if last.all():
        return None
    keep = np.zeros(len(key), dtype=bool)
    keep[order[last]] = True
    return keep


def _keys(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """One int64 per unit × sample of ``a`` and of ``b``, equal when the units are equal."""
    cats_a, cats_b = a["unit"].cat.categories, b["unit"].cat.categories
    union = pd.Index(cats_a.append(cats_b), dtype=object).unique()
    samples = np.unique(np.concatenate([a["sample"].to_numpy(np.int64),
                                        b["sample"].to_numpy(np.int64)]))
    keys = []
    kind = np.int32 if (len(union) + 1) * max(len(samples), 1) < 2**31 else np.int64  # 4 bytes a unit
    for units, cats in ((a, cats_a), (b, cats_b)):
        key = union.get_indexer(cats).astype(kind)[units["unit"].cat.codes.to_numpy()]
        key *= max(len(samples), 1)
        key += np.searchsorted(samples, units["sample"].to_numpy())
        keys.append(key)
    return keys[0], keys[1]


def _matches(keys: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``a`` and in ``b`` of the keys both hold (each side's keys are distinct),
    in key order: ``np.intersect1d(..., assume_unique=True, return_indices=True)``, through a
    lookup table over the keys' (small) range instead of sorting both sides together."""
    keys_a, keys_b = keys
    span = int(max(keys_a.max(initial=-1), keys_b.max(initial=-1))) + 1
    if span > 4 * (len(keys_a) + len(keys_b)) + (1 << 16):
        _, at_a, at_b = np.intersect1d(keys_a, keys_b, assume_unique=True, return_indices=True)
        return at_a, at_b
    kind = np.dtype(np.int32 if max(len(keys_a), len(keys_b)) < 2**31 else np.intp)  # half the bytes
    where_a, where_b = np.full(span, -1, dtype=kind), np.full(span, -1, dtype=kind)
    where_a[keys_a] = np.arange(len(keys_a), dtype=kind)
    where_b[keys_b] = np.arange(len(keys_b), dtype=kind)
    common = np.flatnonzero((where_a >= 0) & (where_b >= 0))
    return where_a[common], where_b[common]


def _verdict(low: float, high: float, label_a: str, label_b: str) -> str:
    """Words for the difference CI."""
    if np.isnan(low):
        return "not compared — no data"
    if low > 0:
        return f"higher in {label_a}"
    if high < 0:
        return f"higher in {label_b}"
    return "no significant difference"


def _paired(a: pd.DataFrame, b: pd.DataFrame, matched: tuple[np.ndarray, np.ndarray],
            confidence: float) -> dict[str, Any]:
    """Paired comparison on matched units (``matched``: ``_matches`` of ``_keys(a, b)``),
    clustered by topic."""
    at_a, at_b = matched
    ya, yb = a["y"].to_numpy(bool)[at_a], b["y"].to_numpy(bool)[at_b]
    per_topic = pd.DataFrame({"topic": a["topic"].array[at_a], "n": 1.0, "b": ya & ~yb,
                              "c": yb & ~ya, "ya": ya, "yb": yb})
    g = per_topic.groupby("topic", sort=True, observed=True)[["n", "b", "c", "ya", "yb"]]
    g = g.sum().astype(float)
    ratio = ratio_ci_paired(g["ya"].to_numpy(), g["yb"].to_numpy(), confidence)
    ci = stats.clustered_bp_ci(g["b"], g["c"], g["n"], confidence)
    b, c = int(g["b"].sum()), int(g["c"].sum())
    test = (stats.durkalski_test(g["b"], g["c"]) if ci.clusters >= 2
            else _unit_sign_test(per_topic.assign(unit=a["unit"].cat.codes.to_numpy()[at_a])))
    n = float(len(at_a))
    return {"design": "paired", "k_a": float(ya.sum()), "n_a": n, "k_b": float(yb.sum()),
            "n_b": n, "difference": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
            "method": ci.method, "p_value": test.p_value, "test": test.method,
            "n_paired": n, "only_a": float(b), "only_b": float(c), "clusters": ci.clusters,
            **_ratio_columns(ratio)}


def _ratio_columns(ci: stats.Interval | stats.ClusteredInterval) -> dict[str, Any]:
    """The ratio B/A columns of a comparison row."""
    return {"ratio": ci.estimate, "ratio_low": ci.low, "ratio_high": ci.high,
            "ratio_method": ci.method}


def _unit_sign_test(per_unit: pd.DataFrame) -> stats.TestResult:
    """Exact McNemar with one sample per unit; the sign test on units with several samples.

    The unit is the prompt (or pair) without its sample number; with one sample per unit the
    sign test is the exact McNemar test (``stats.pair_sign_test``).
    """
    g = per_unit.groupby("unit", sort=False)[["b", "c"]].sum()
    if len(g) == len(per_unit):
        return stats.mcnemar_exact(int(g["b"].sum()), int(g["c"].sum()))
    return stats.pair_sign_test(g["b"], g["c"])


def _effective_counts(units: pd.DataFrame) -> tuple[float, float, float, float]:
    """(k, n, k/DEFF, n/DEFF) of one run's units, DEFF from its topic totals."""
    g = units.groupby("topic", sort=True, observed=True)["y"].agg(["sum", "size"]).astype(float)
    k, n = float(g["sum"].sum()), float(g["size"].sum())
    deff = stats.design_effect(g["sum"], g["size"])
    deff = 1.0 if np.isnan(deff) else deff
    return k, n, k / deff, n / deff


def _independent(a: pd.DataFrame, b: pd.DataFrame, confidence: float) -> dict[str, Any]:
    """Independent comparison: Newcombe CI and score test on effective counts."""
    ka, na, ka_eff, na_eff = _effective_counts(a)
    kb, nb, kb_eff, nb_eff = _effective_counts(b)
    ci = stats.newcombe_diff_ci(ka_eff, na_eff, kb_eff, nb_eff, confidence)
    test = stats.score_test_2indep(ka_eff, na_eff, kb_eff, nb_eff)
    diff = ka / na - kb / nb if na > 0 and nb > 0 else np.nan
    ratio, _ = ratio_ci_units(a, b, confidence)
    return {"design": "independent", "k_a": ka, "n_a": na, "k_b": kb, "n_b": nb,
            "difference": diff, "ci_low": ci.low, "ci_high": ci.high,
            "method": "newcombe (effective n: topic deff)", "p_value": test.p_value,
            "test": "score (effective n)", "n_paired": 0.0, **_ratio_columns(ratio)}


def _compare_metric(a: pd.DataFrame, b: pd.DataFrame, confidence: float, min_overlap: float
                    ) -> dict[str, Any]:
    """Paired or independent comparison of one metric's units."""
    matched = _matches(_keys(a, b))
    shared = len(matched[0])
    overlap = shared / max(len(a), len(b), 1)
    if shared > 0 and overlap >= min_overlap:
        return _paired(a, b, matched, confidence)
    return _independent(a, b, confidence)


def compare_runs(
    run_a: pd.DataFrame,
    run_b: pd.DataFrame,
    *,
    label_a: str = "A",
    label_b: str = "B",
    confidence: float = 0.95,
    min_overlap: float = 0.5,
    stance_a: pd.DataFrame | None = None,
    stance_b: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Compare two labelled responses frames (one target each) metric by metric.

    Returns ``COMPARISON_COLUMNS``: per metric the design (paired/independent), both
    estimates and counts, the difference A − B with its CI, the ratio B/A with its CI, the
    p-value and a verdict
    (``higher in <A>``, ``higher in <B>``, ``no significant difference`` or
    ``not compared — no data``). With both runs' stance.csv frames (``stance_a``,
    ``stance_b``) the stance rates ``biased_answer_rate`` and ``leaning_answer_rate`` too.
    """
    return _compare(_metric_units(run_a, stance=stance_a), _metric_units(run_b, stance=stance_b),
                    label_a, label_b, confidence, min_overlap)


def _metric_units(responses: pd.DataFrame, rows: np.ndarray | None = None,
                  stance: pd.DataFrame | None = None, target: str | None = None
                  ) -> dict[str, pd.DataFrame]:
    """The units of every metric of one run (``_units``): the rows of ``responses`` (those
    of the mask ``rows``), and with a ``stance`` frame (of ``target`` when given) the stance
    metrics'. Its normalised frame and pairs are let go on return: only one run's are held at
    a time."""
    df = _normalise(responses, rows)
    pairs = _pairs(df)
    units = {metric: _units(df, pairs, metric) for metric in METRICS}
    if stance is not None:
        judged = normalise_stance(stance)
        units |= {m: stance_units(judged, m, target) for m in STANCE_METRICS}
    return units


def target_units(df: pd.DataFrame, pairs: pd.DataFrame, target: str) -> dict[str, pd.DataFrame]:
    """The units of every metric (``_units``) of one target, from the normalised frame of
    every target (``normalise_responses``) and its ``_pairs``: the same units as
    ``_metric_units`` of that target's rows, without normalising and pairing them again."""
    rows = (_is(df["target"], target), _is(pairs["target"], target))
    return {metric: _units(df, pairs, metric, rows) for metric in METRICS}


def targets_units(responses: pd.DataFrame, targets: list[str]) -> dict[str, dict[str, pd.DataFrame]]:
    """``target_units`` of each of ``targets``: ``responses`` normalised and paired once."""
    df = _normalise(responses)
    pairs = _pairs(df)
    return {target: target_units(df, pairs, target) for target in targets}


def compare_units(units_a: Mapping[str, pd.DataFrame], units_b: Mapping[str, pd.DataFrame],
                  target_a: str, target_b: str, *, confidence: float = 0.95,
                  min_overlap: float = 0.5) -> pd.DataFrame:
    """``compare_targets`` on the two targets' ``target_units`` (built once, shared)."""
    return _compare(units_a, units_b, target_a, target_b, confidence, min_overlap)


def _compare(units_a: Mapping[str, pd.DataFrame], units_b: Mapping[str, pd.DataFrame], label_a: str,
             label_b: str, confidence: float, min_overlap: float) -> pd.DataFrame:
    """``compare_runs`` on the two runs' ``_metric_units``."""
    rows = []
    for metric in [m for m in units_a if m in units_b]:
        row = _compare_metric(units_a[metric], units_b[metric], confidence, min_overlap)
        row |= {"metric": metric, "label_a": label_a, "label_b": label_b}
        row["estimate_a"] = row["k_a"] / row["n_a"] if row["n_a"] > 0 else np.nan
        row["estimate_b"] = row["k_b"] / row["n_b"] if row["n_b"] > 0 else np.nan
        row["verdict"] = _verdict(row["ci_low"], row["ci_high"], label_a, label_b)
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def compare_targets(
    responses: pd.DataFrame, target_a: str, target_b: str, *, confidence: float = 0.95,
    min_overlap: float = 0.5, stance: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Compare two targets of one responses frame (same prompts → paired); with the run's
    stance.csv frame (``stance``), the stance rates too."""
    # one target at a time: its rows are normalised and paired, then only its units kept
    units_a, units_b = [_metric_units(responses, _target_is(responses["target"], target),
                                      stance, target)
                        for target in (target_a, target_b)]
    return _compare(units_a, units_b, target_a, target_b, confidence, min_overlap)


def _target_is(column: pd.Series, target: str) -> np.ndarray:
    """Rows whose ``target``, as text and stripped, is ``target``.

    A categorical column is tested once per category (and once for a missing value) rather
    than once per row.
    """
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return (column.astype(str).str.strip() == target).to_numpy(bool)
    cats = column.cat.categories
    per_code = pd.Series(pd.Categorical.from_codes(np.arange(-1, len(cats)), categories=cats))
    hit = (per_code.astype(str).str.strip() == target).to_numpy(bool)
    return np.roll(hit, -1)[column.cat.codes.to_numpy()]  # code -1 (missing) → hit[0]
