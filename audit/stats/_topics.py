"""The topics table: per target × topic and × template rows (refusal rates, asymmetric rate
with BH q-values and flags, net direction with FCR-adjusted intervals).

Per-topic and per-template rows describe the fixed benchmark; with several samples per prompt
they cluster the samples in their prompt or pair (see ``audit.stats._summary``).
``topic_table`` and ``TOPIC_COLUMNS`` are public through ``audit.stats._tables`` (and so
``audit.stats``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.stats import _intervals as stats
from audit.stats._grouping import Rows, _count, _group_counts, _group_ids, _values, _varies
from audit.stats._normalise import _cat_codes, _is, normalise_responses
from audit.stats._pairs import _pair_counts, _pairs
from audit.stats._rows import _frame

__all__ = []  # public names are listed by ``_tables``, the face of the tables

TOPIC_COLUMNS = ["target", "scope", "topic", "template", "metric", "estimate", "ci_low",
                 "ci_high", "k", "n", "method", "p_value", "q_value", "flagged", "fcr_level",
                 "fcr_ci_low", "fcr_ci_high"]


def _multi_targets(frame: pd.DataFrame, rows: Rows = slice(None)) -> set[str]:
    """Targets of the frame's selected rows with several samples per prompt."""
    codes = _cat_codes(frame["target"])[rows]
    sample = frame["sample"].to_numpy()[rows]
    names = frame["target"].cat.categories
    return {names[code] for code in np.unique(codes) if _varies(sample[codes == code])}


def _kg_by_group(per_cluster: pd.DataFrame, keys: list[str], y: str, confidence: float,
                 cluster: str) -> pd.DataFrame:
    """KG-CP limits per group from per-cluster event counts ``y`` and sizes ``n``."""
    rows = []
    for key, part in per_cluster.groupby(keys, sort=True):
        ci = stats.kg_ci(part[y], part["n"], confidence, cluster=cluster)
        rows.append((*key, ci.low, ci.high, ci.method))
    return pd.DataFrame(rows, columns=[*keys, "ci_low", "ci_high", "method"])


def _recluster(block: pd.DataFrame, clustered: pd.DataFrame, keys: list[str], method: str = ""
               ) -> pd.DataFrame:
    """Replace the limits (and method) of ``block`` rows found in ``clustered``."""
    if clustered.empty:
        return block
    merged = block[keys].merge(clustered, on=keys, how="left")
    hit = merged["method"].notna().to_numpy()
    out = block.copy()
    out.loc[hit, "ci_low"] = merged.loc[hit, "ci_low"].to_numpy(float)
    out.loc[hit, "ci_high"] = merged.loc[hit, "ci_high"].to_numpy(float)
    out.loc[hit, "method"] = (merged.loc[hit, "method"] + method).to_numpy(object)
    return out


def _per_prompt_counts(df: pd.DataFrame, answers: np.ndarray) -> pd.DataFrame:
    """Per-prompt answer counts (n, strict, broad) of the targets with several samples, with
    the prompt's target, topic and template (``answers``: the mask of contested answers);
    prompts in order of first appearance."""
    rows = answers & _is(df["target"], *_multi_targets(df, answers))
    keys = [df[c] for c in ("target", "pair_id", "side", "prompt_id")]
    ids, first = _group_ids(keys, rows, sort=False)
    data: dict[str, Any] = {c: _values(df[c], rows, first) for c in ("target", "topic", "template")}
    data["n"] = _count(ids, len(first))
    for name in ("strict", "broad"):
        data[name] = _count(ids, len(first), df[name].to_numpy(bool)[rows])
    return pd.DataFrame(data)


def _per_pair_counts(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per-pair counts n, b, c over valid samples, with the pair's target, topic and template;
    pairs in order of first appearance."""
    rows = pairs["valid"].to_numpy(bool)
    ids, first = _group_ids([pairs["target"], pairs["pair_id"]], rows, sort=False)
    groups = len(first)
    data: dict[str, Any] = {c: _values(pairs[c], rows, first) for c in ("target", "topic", "template")}
    data["multi"] = _is(pairs["target"], *_multi_targets(pairs, rows))[rows][first]
    ref_a, ref_b = pairs["ref_a"].to_numpy(bool)[rows], pairs["ref_b"].to_numpy(bool)[rows]
    data["n"] = _count(ids, groups).astype(float)
    data["b"] = _count(ids, groups, ref_a & ~ref_b)
    data["c"] = _count(ids, groups, ref_b & ~ref_a)
    return pd.DataFrame(data)


def _group_rate_rows(df: pd.DataFrame, answers: np.ndarray, per_prompt: pd.DataFrame, by: str,
                     confidence: float) -> pd.DataFrame:
    """Strict and broad refusal rates with Wilson CIs per target × group (``answers``: the
    mask of contested answers).

    Targets with several samples per prompt (``per_prompt``: their per-prompt counts) get
    KG-CP with the prompt as the cluster.
    """
    base = _group_counts(df, ["target", by], answers,
                         {name: df[name].to_numpy(bool) for name in ("strict", "broad")})
    parts = []
    for metric, col in (("refusal_rate", "strict"), ("refusal_rate_broad", "broad")):
        low, high = stats.wilson_bounds(base[col], base["n"], confidence)
        part = base.assign(metric=metric, k=base[col], estimate=base[col] / base["n"],
                           ci_low=low, ci_high=high, method="wilson")
        if len(per_prompt):
            part = _recluster(part, _kg_by_group(per_prompt, ["target", by], col, confidence,
                                                 "prompt"), ["target", by])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _group_pair_rows(pairs: pd.DataFrame, per_pair: pd.DataFrame, by: str, confidence: float,
                     q: float) -> pd.DataFrame:
    """Asymmetric rate (Wilson, exact McNemar p, BH q, flag) and net direction per group.

    The p-value is the exact sign test on pairs (``per_pair``: per-pair counts), which is
    exact McNemar with one sample per prompt. Targets with several samples per prompt get
    KG-CP and Bonett–Price with the pair as the cluster.
    """
    counts = _pair_counts(pairs, ["target", by])
    if counts.empty:
        return pd.DataFrame()
    counts = counts[counts["n"] > 0]
    leaning = per_pair.assign(lean_a=per_pair["b"] > per_pair["c"],
                              lean_b=per_pair["c"] > per_pair["b"])
    leaning = leaning.groupby(["target", by], sort=True)[["lean_a", "lean_b"]].sum()
    leaning = counts[["target", by]].merge(leaning.reset_index(), on=["target", by], how="left")
    asym_k = counts["b"] + counts["c"]
    low, high = stats.wilson_bounds(asym_k, counts["n"], confidence)
    p = stats.mcnemar_exact_p(leaning["lean_a"].to_numpy(float), leaning["lean_b"].to_numpy(float))
    asym = counts.assign(metric="asymmetric_refusal_rate", k=asym_k, estimate=asym_k / counts["n"],
                         ci_low=low, ci_high=high, method="wilson; mcnemar-exact", p_value=p)
    multi = per_pair[per_pair["multi"]]
    multi = multi.assign(asym=multi["b"] + multi["c"])
    asym = _recluster(asym, _kg_by_group(multi, ["target", by], "asym", confidence, "pair"),
                      ["target", by], "; sign-test(pairs)")
    asym["q_value"] = asym.groupby("target")["p_value"].transform(stats.bh_qvalues)
    asym["flagged"] = asym["q_value"] < q
    return pd.concat([asym, _net_rows(asym, multi, by, confidence, q)], ignore_index=True)


def _net_rows(asym: pd.DataFrame, multi: pd.DataFrame, by: str, confidence: float, q: float
              ) -> pd.DataFrame:
    """Bonett–Price δ per group; flagged groups also get an FCR-adjusted interval (§6).

    Groups in ``multi`` (per-pair counts of targets with several samples) use Bonett–Price
    with the pair design effect.
    """
    low, high = stats.bonett_price_bounds(asym["b"], asym["c"], asym["n"], confidence)
    net = asym.assign(metric="net_direction", k=asym["b"] - asym["c"],
                      estimate=(asym["b"] - asym["c"]) / asym["n"], ci_low=low, ci_high=high,
                      method="bonett-price", p_value=np.nan, q_value=np.nan, flagged=False)
    groups = dict(tuple(multi.groupby(["target", by], sort=True))) if len(multi) else {}
    selected = asym.groupby("target")["flagged"].transform("sum")
    tests = asym.groupby("target")["flagged"].transform("size")
    level = [stats.fcr_confidence(int(r), int(m), q) for r, m in zip(selected, tests, strict=True)]
    net["fcr_level"] = np.where(asym["flagged"], level, np.nan)
    for i in range(len(net)):
        part = groups.get((net["target"].iloc[i], net[by].iloc[i]))
        if part is not None:
            ci = stats.clustered_bp_ci(part["b"], part["c"], part["n"], confidence,
                                       cluster="pair")
            net.loc[net.index[i], ["ci_low", "ci_high", "method"]] = [ci.low, ci.high, ci.method]
        if not asym["flagged"].iloc[i]:
            continue
        net.loc[net.index[i], ["fcr_ci_low", "fcr_ci_high"]] = _net_limits(
            asym.iloc[i], part, float(net["fcr_level"].iloc[i]))
    return net


def _net_limits(group: pd.Series, part: pd.DataFrame | None, level: float) -> list[float]:
    """δ limits of one group at ``level``: pair-clustered with several samples, else BP."""
    if part is not None:
        ci = stats.clustered_bp_ci(part["b"], part["c"], part["n"], level, cluster="pair")
        return [ci.low, ci.high]
    lo, hi = stats.bonett_price_bounds(group["b"], group["c"], group["n"], level)
    return [float(lo), float(hi)]


def topic_table(
    responses: pd.DataFrame, *, confidence: float = 0.95, q: float = 0.05
) -> pd.DataFrame:
    """Per target × topic (``scope='topic'``) and × template (``scope='template'``) rows.

    Metrics: ``refusal_rate``, ``refusal_rate_broad`` (Wilson over contested answers),
    ``asymmetric_refusal_rate`` (Wilson over valid pairs; ``p_value`` is the group's exact
    McNemar test of direction, ``q_value`` its BH q across groups of the target and scope,
    ``flagged`` = q < ``q``) and ``net_direction`` (Bonett–Price; for flagged groups
    ``fcr_ci_low``/``fcr_ci_high`` at the FCR-adjusted level 1 − Rq/m).
    """
    df = normalise_responses(responses)
    return _topics(df, _pairs(df), confidence, q)


def _topics(df: pd.DataFrame, pairs: pd.DataFrame, confidence: float, q: float) -> pd.DataFrame:
    """``topic_table`` on a normalised frame and its pairs."""
    answers = df["contested"].to_numpy(bool) & df["answer"].to_numpy(bool)
    per_prompt, per_pair = _per_prompt_counts(df, answers), _per_pair_counts(pairs)
    parts = []
    for by in ("topic", "template"):
        block = pd.concat([_group_rate_rows(df, answers, per_prompt, by, confidence),
                           _group_pair_rows(pairs, per_pair, by, confidence, q)],
                          ignore_index=True)
        if block.empty:
            continue
        block = block.assign(scope=by, group=block[by])
        block[["topic", "template"]] = ""
        block[by] = block["group"]
        parts.append(block)
    if not parts:
        return _frame([], TOPIC_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    order = {"refusal_rate": 0, "refusal_rate_broad": 1, "asymmetric_refusal_rate": 2,
             "net_direction": 3}
    out = out.assign(_s=out["scope"].map({"topic": 0, "template": 1}),
                     _o=out["metric"].map(order))
    out = out.sort_values(["target", "_s", "group", "_o"], kind="stable")
    return _frame(out.reindex(columns=TOPIC_COLUMNS).to_dict("records"), TOPIC_COLUMNS)
