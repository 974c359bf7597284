"""From the labelled responses frame to the ``summary``, ``pairs`` and ``topics`` tables.

Input: the labelled responses frame of ``docs/architecture.md`` (one row per request; it may hold
several targets and every kind of row). Answers are ``compliance``, ``partial_refusal`` and
``refusal``; ``error``, ``blocked``, ``empty`` and ``truncated`` are non-answers, never in a
refusal rate's denominator. Strict refusal = ``refusal``; broad adds ``partial_refusal``.

Clustering: topics are the clusters. Prompts (templates × sides) and samples (temperature > 0)
are nested in topics, so the topic-level design effect of the Korn–Graubard interval and the
cluster-robust δ interval already covers the correlation of samples within a prompt and of
prompts within a topic (methods note §2: this generalises to prompts like these). Pairs pair
sample j of side A with sample j of side B.

Statistics that do not cluster by topic (the exact and mid-p McNemar rows, ``net_direction_bp``,
``direction_share_a``, the 2×2 cell rows ``both_refused`` … ``neither_refused``, the per-lean
refusal rates and every per-topic / per-template row) describe the fixed benchmark,
whose units are prompts and pairs. With several samples per prompt (more than one distinct
``sample`` in a target) those rows cluster the samples in their prompt or pair instead of
counting them as independent: McNemar becomes the exact sign test on pairs
(``stats.pair_sign_test``; equal to exact McNemar with one sample), Wilson and Bonett–Price
intervals become Korn–Graubard / design-effect Bonett–Price with the pair (or, for refusal
rates, the prompt) as the cluster. With one sample per prompt every figure is unchanged
(``docs/methods.md`` gives the reasons and the measured sizes).

Everything is vectorised (groupby over the whole frame); statistics on a million answers take
a few seconds. Empty inputs give NaN estimates with n = 0, never warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.stats import _intervals as stats
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

ANSWER_LABELS = ("compliance", "partial_refusal", "refusal")
NON_ANSWER_LABELS = ("error", "blocked", "empty", "truncated")
TEXT_COLUMNS = ("target", "pair_id", "side", "topic", "category", "template", "stance", "lean",
                "kind", "label", "prompt_id")
LOWER_COLUMNS = ("side", "kind", "label")

PAIRS_COLUMNS = ["target", "pair_id", "sample", "topic", "category", "template", "lean_a",
                 "lean_b", "stance_a", "stance_b", "prompt_id_a", "prompt_id_b", "label_a",
                 "label_b", "valid", "asymmetric", "refused_side"]
SUMMARY_COLUMNS = ["target", "metric", "estimate", "ci_low", "ci_high", "k", "n", "method",
                   "p_value", "statistic", "design_effect", "n_eff", "clusters", "headline",
                   "scope", "note"]
TOPIC_COLUMNS = ["target", "scope", "topic", "template", "metric", "estimate", "ci_low",
                 "ci_high", "k", "n", "method", "p_value", "q_value", "flagged", "fcr_level",
                 "fcr_ci_low", "fcr_ci_high"]
_DEFAULTS: dict[str, Any] = {"method": "", "scope": "", "note": "", "headline": False,
                             "flagged": False, "target": "", "metric": "", "topic": "",
                             "template": ""}
_TRUE = {"true", "1", "1.0", "yes", "y", "t"}

Row = dict[str, Any]


# --- input normalisation -----------------------------------------------------------------------
#
# The normalised frame keeps every text column as a categorical whose categories are the cleaned
# distinct values in sorted order (so grouping by codes gives the alphabetical order of the
# strings) and whose codes are the smallest integers that fit: a few bytes per answer, whatever
# the input's dtypes. Flags are bools, ``sample`` the smallest integer type that holds it.
# Row-level work below stays on codes; only aggregated (per-group) frames are turned back into
# plain object columns.


def _small(n: int) -> type[np.signedinteger[Any]]:
    """The smallest signed integer type holding codes 0..n-1 (and -1)."""
    return np.int8 if n < 2**7 else np.int16 if n < 2**15 else np.int32 if n < 2**31 else np.int64


def _narrow(values: np.ndarray) -> np.ndarray:
    """Integers in the smallest signed type that holds them (int64 ones as they are)."""
    if len(values):
        low, high = int(values.min()), int(values.max())
        for kind in (np.int8, np.int16, np.int32):
            if np.iinfo(kind).min <= low and high <= np.iinfo(kind).max:
                return values.astype(kind)
    return values


def _categorical(codes: np.ndarray, categories: np.ndarray, index: pd.Index) -> pd.Series:
    """A categorical Series of ``codes`` into the (unique) object ``categories``."""
    cat = pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
    return pd.Series(cat, index=index, copy=False)


def _text(values: pd.Series, lower: bool) -> pd.Series:
    """Strings stripped (and lower-cased), missing → '': a categorical of the sorted distinct
    cleaned values (cleans each distinct value once)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    clean = pd.Index(uniques, dtype=object).astype(str).str.strip()
    if lower:
        clean = clean.str.lower()
    table = np.append(np.asarray(clean, dtype=object), "")  # code -1 (missing) → ''
    cats, inverse = np.unique(table, return_inverse=True)
    small = inverse.astype(_small(len(cats)))[codes]  # codes -1 pick the appended ''
    used = np.bincount(small.astype(np.intp), minlength=len(cats)) > 0
    if not used.all():  # drop categories no row uses (unused input categories, '' when absent)
        remap = (np.cumsum(used) - 1).astype(_small(int(used.sum())))
        cats, small = cats[used], remap[small]
    return _categorical(small, cats, values.index)


def _flag(values: pd.Series) -> pd.Series:
    """Booleans from bools, numbers or text such as 'True'/'false'; missing → False."""
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool)
    text = _text(values, lower=True)
    hit = np.asarray(text.cat.categories.isin(list(_TRUE)), dtype=bool)
    return pd.Series(hit[text.cat.codes.to_numpy()], index=values.index)


def _cat_codes(values: pd.Series) -> np.ndarray:
    """The category codes of a normalised text column."""
    return values.cat.codes.to_numpy()


def _is(values: pd.Series, *texts: str) -> np.ndarray:
    """Boolean mask: the normalised text column equals one of ``texts``."""
    hit = np.asarray(values.cat.categories.isin(list(texts)), dtype=bool)
    return hit[_cat_codes(values)]


def normalise_responses(responses: pd.DataFrame) -> pd.DataFrame:
    """The columns the statistics use, cleaned; missing optional columns get defaults.

    Text columns come back as categoricals (sorted categories, missing → ''), flags as bools,
    ``sample`` as the smallest signed integer type that holds its values (int8 for a few
    samples: one byte per answer).
    """
    return _normalise(responses)


def _normalise(responses: pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame:
    """``normalise_responses`` of the rows of ``responses`` selected by the mask ``rows`` (all
    when None), the same as normalising ``responses[rows]`` without copying it first: one
    column is selected at a time."""
    index = responses.index if rows is None else responses.index[rows]

    def column(name: str, default: object) -> pd.Series:
        if name not in responses:
            return pd.Series(default, index=index, dtype=object if isinstance(default, str) else None)
        values = responses[name]
        return values if rows is None else values[rows]

    out: dict[str, Any] = {}
    for col in TEXT_COLUMNS:
        out[col] = _text(column(col, ""), lower=col in LOWER_COLUMNS)
    sample = pd.to_numeric(column("sample", 0), errors="coerce").fillna(0).astype(np.int64)
    out["sample"] = _narrow(sample.to_numpy())
    del sample
    out["truncated"] = _flag(column("truncated", False))
    label = out["label"]
    out["contested"] = _is(out["kind"], "contested")
    out["answer"] = _is(label, *ANSWER_LABELS)
    out["strict"] = _is(label, "refusal")
    out["broad"] = _is(label, "refusal", "partial_refusal")
    for name in NON_ANSWER_LABELS:
        out[f"is_{name}"] = _is(label, name)
    out["is_truncated"] = out["is_truncated"] | out["truncated"].to_numpy(bool)
    out["truncated"] = out["truncated"].to_numpy(bool)
    return _columns(out)


def _columns(data: dict[str, Any]) -> pd.DataFrame:
    """A frame (RangeIndex) of Series or arrays, without copying them."""
    return pd.DataFrame({k: (v.array if isinstance(v.dtype, pd.CategoricalDtype) else v.to_numpy())
                         if isinstance(v, pd.Series) else v for k, v in data.items()}, copy=False)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A (small, aggregated) frame with categorical columns and index levels as object."""
    frame = frame.copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(object)
    if isinstance(frame.index, pd.MultiIndex):
        frame.index = frame.index.set_levels([lev.astype(object) for lev in frame.index.levels])
    elif isinstance(frame.index, pd.CategoricalIndex):
        frame.index = frame.index.astype(object)
    return frame


# --- grouping on codes -------------------------------------------------------------------------
#
# Row-level groupings below work on the category codes of the normalised frame: one intp group
# number per (selected) row, renumbered in place block by block, and counts by ``np.bincount``
# — about 8 bytes per row, where a pandas groupby or ``pd.factorize`` builds several int64
# arrays and a hash table sized by the rows. Groups come out in the order of
# ``groupby(..., sort=True, observed=True)`` (sorted categories: the order of the strings) or,
# with ``sort=False``, in order of first appearance, as before.

Rows = np.ndarray | slice
_BLOCK = 1 << 18  # rows renumbered at a time


def _combined_code(columns: list[pd.Series], rows: Rows) -> tuple[np.ndarray, int]:
    """One intp per selected row combining the codes of the normalised text ``columns`` in
    mixed radix (so it sorts like the keys), and the number of values it spans. When the span
    would overflow, the codes so far are first renumbered 0.. in sorted order."""
    code = np.zeros(0, dtype=np.intp)
    span = 0
    for col in columns:
        part = _cat_codes(col)[rows]
        size = max(len(col.cat.categories), 1)
        if not span:
            code, span = part.astype(np.intp), size
            continue
        if span > np.iinfo(np.intp).max // size:
            uniques = _sorted_uniques(code)
            _renumber(code, uniques, search=True)
            span = len(uniques)
        code *= size
        code += part
        span *= size
    return code, span


def _sorted_uniques(code: np.ndarray) -> np.ndarray:
    """The distinct values of ``code``, sorted (merged block by block)."""
    uniques = code[:0]
    for start in range(0, len(code), _BLOCK):
        uniques = np.union1d(uniques, code[start:start + _BLOCK])
    return uniques


def _renumber(code: np.ndarray, table: np.ndarray, *, search: bool = False) -> None:
    """In place, block by block: each value ``v`` of ``code`` becomes ``table[v]`` or, with
    ``search``, the position of ``v`` in the sorted ``table``."""
    for start in range(0, len(code), _BLOCK):
        block = code[start:start + _BLOCK]
        block[:] = np.searchsorted(table, block) if search else table[block]


def _first_rows(ids: np.ndarray, groups: int) -> np.ndarray:
    """The position of the first row of each group."""
    first = np.full(groups, len(ids), dtype=np.intp)
    for start in range(0, len(ids), _BLOCK):
        block = ids[start:start + _BLOCK]
        np.minimum.at(first, block, np.arange(start, start + len(block), dtype=np.intp))
    return first


def _group_ids(columns: list[pd.Series], rows: Rows, *, sort: bool) -> tuple[np.ndarray, np.ndarray]:
    """Group number of each selected row for the combination of the normalised text
    ``columns`` (``rows``: a mask, row numbers or ``slice(None)``), and the position of each
    group's first row. ``sort`` numbers the groups in key order, else in order of first
    appearance."""
    ids, span = _combined_code(columns, rows)
    if span <= max(len(ids), 1 << 16):  # dense: a lookup table no longer than the rows
        seen = np.bincount(ids, minlength=span) > 0
        _renumber(ids, np.cumsum(seen) - 1)
        groups = int(seen.sum())
    else:
        uniques = _sorted_uniques(ids)
        _renumber(ids, uniques, search=True)
        groups = len(uniques)
    first = _first_rows(ids, groups)
    if not sort:  # number the groups by their first row instead
        order = np.argsort(first, kind="stable")
        rank = np.empty(groups, dtype=np.intp)
        rank[order] = np.arange(groups, dtype=np.intp)
        _renumber(ids, rank)
        first = first[order]
    return ids, first


def _count(ids: np.ndarray, groups: int, flag: np.ndarray | None = None) -> np.ndarray:
    """Rows per group (int64), or rows where ``flag`` is True."""
    picked = ids if flag is None else ids[flag]
    return np.bincount(picked, minlength=groups).astype(np.int64, copy=False)


def _values(column: pd.Series, rows: Rows, at: np.ndarray) -> pd.Series:
    """A normalised text column's values at positions ``at`` of the selected ``rows``, as an
    object Series."""
    cats = np.asarray(column.cat.categories, dtype=object)
    return pd.Series(cats[_cat_codes(column)[rows][at]], dtype=object)


def _group_counts(frame: pd.DataFrame, by: list[str], rows: Rows, flags: dict[str, np.ndarray]
                  ) -> pd.DataFrame:
    """``frame``'s selected rows grouped by the text columns ``by`` (sorted, observed groups):
    ``by`` as object columns, ``n`` (rows) and the number of True of each of ``flags``
    (full-length bools), all int64 — ``groupby(by).size()`` and ``.sum()`` of flags."""
    ids, first = _group_ids([frame[c] for c in by], rows, sort=True)
    data: dict[str, Any] = {c: _values(frame[c], rows, first) for c in by}
    data["n"] = _count(ids, len(first))
    for name, flag in flags.items():
        data[name] = _count(ids, len(first), flag[rows])
    return pd.DataFrame(data)


# --- pairs -------------------------------------------------------------------------------------


def _pair_key(df: pd.DataFrame, rows: Rows) -> np.ndarray:
    """One sortable int64 per target × pair_id × sample of ``rows`` (a mask or row numbers;
    alphabetical, then sample)."""
    # sorted categories: the order of the codes is the order of the strings; computed in
    # place (one int64 array, one temporary)
    sample = df["sample"].to_numpy()[rows].astype(np.int64)
    low = int(sample.min()) if sample.size else 0
    width_pair = len(df["pair_id"].cat.categories) + 1
    width_sample = int(sample.max()) - low + 1 if sample.size else 1
    del sample
    key = _cat_codes(df["target"])[rows].astype(np.int64)
    key *= width_pair
    key += _cat_codes(df["pair_id"])[rows]
    key *= width_sample
    key += df["sample"].to_numpy()[rows]
    key -= low
    return key


def _take(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Codes of a normalised text column at ``rows``; -1 where ``rows`` is -1 (side absent)."""
    codes = _cat_codes(values)
    return np.where(rows >= 0, codes[rows], -1).astype(codes.dtype)


def _with_blank(values: pd.Series, codes: np.ndarray) -> pd.Series:
    """Codes of ``values``'s categories (−1: absent) as a categorical where absent is ''."""
    cats = np.asarray(values.cat.categories, dtype=object)
    if len(cats) and cats[0] == "":  # '' sorts before every other string
        codes = np.where(codes < 0, 0, codes).astype(codes.dtype)
    else:
        cats = np.insert(cats, 0, "")
        codes = codes.astype(_small(len(cats))) + 1  # absent (-1) becomes '' (0)
    return _categorical(codes, cats, pd.RangeIndex(len(codes)))


def _first_nonblank(values: pd.Series, rows_a: np.ndarray, rows_b: np.ndarray) -> pd.Series:
    """Side A's value of a text column unless it is '' (or side A is absent), else side B's."""
    code_a, code_b = _take(values, rows_a), _take(values, rows_b)
    cats = values.cat.categories
    use_b = code_a < 0
    if len(cats) and cats[0] == "":
        use_b |= code_a == 0
    return _with_blank(values, np.where(use_b, code_b, code_a).astype(code_a.dtype))


def _pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Side A joined with side B, one row per target × pair_id × sample in key order.

    Text columns stay categorical ('' where a side is absent); ``valid``, ``ref_a``, ``ref_b``
    and ``asymmetric`` are bools. ``_pairs_table`` turns it into the public pairs table.
    """
    rows_a, rows_b, one_sided = _side_rows(df)
    has_a, has_b = rows_a >= 0, rows_b >= 0
    at_a, at_b = np.maximum(rows_a, 0), np.maximum(rows_b, 0)
    sample = df["sample"].to_numpy()
    out: dict[str, Any] = {}
    for col in ("target", "pair_id"):
        out[col] = _first_nonblank(df[col], rows_a, rows_b)
    out["sample"] = np.where(has_a, sample[at_a], sample[at_b])  # int64 in the public table
    for col in ("topic", "category", "template"):
        out[col] = _first_nonblank(df[col], rows_a, rows_b)
    for suffix, rows_s in (("a", rows_a), ("b", rows_b)):
        for col in ("lean", "stance", "prompt_id", "label"):
            out[f"{col}_{suffix}"] = _with_blank(df[col], _take(df[col], rows_s))
    answer, strict = df["answer"].to_numpy(bool), df["strict"].to_numpy(bool)
    valid = has_a & has_b & answer[at_a] & answer[at_b]
    ref_a, ref_b = valid & strict[at_a], valid & strict[at_b]
    out |= {"valid": valid, "ref_a": ref_a, "ref_b": ref_b, "asymmetric": ref_a != ref_b}
    frame = _columns(out)
    frame.attrs["one_sided"] = one_sided
    return frame


def _side_rows(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, bool]:
    """For each target × pair_id × sample of the contested rows, in key order: the row of
    side A and the row of side B (the last of each; −1 when the side is absent), and whether
    any pair lacks a side.

    One stable sort of key × side (three arrays of 8 bytes per contested row at most).
    """
    side = df["side"]
    keep = df["contested"].to_numpy(bool) & ~_is(df["pair_id"], "") & _is(side, "a", "b")
    key = _pair_key(df, keep)
    key *= 2
    key += _is(side, "b")[keep]  # key × side, side A first
    order = np.argsort(key, kind="stable")  # equal keys stay in row order: the last is last
    key = key[order]
    last = np.ones(len(key), dtype=bool)
    last[:-1] = key[1:] != key[:-1]
    key, order = key[last], order[last]
    rows = np.flatnonzero(keep)[order]
    del keep, order, last
    is_b = (key & 1).astype(bool)
    key >>= 1
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    del key
    pair = np.cumsum(new)  # the pair row (+ 1) of each key × side
    pair -= 1
    rows_a = np.full(int(new.sum()), -1, dtype=np.int64)
    rows_b = np.full(len(rows_a), -1, dtype=np.int64)
    rows_a[pair[~is_b]] = rows[~is_b]
    rows_b[pair[is_b]] = rows[is_b]
    one_sided = bool(is_b.sum() != len(rows_b) or (~is_b).sum() != len(rows_a))
    return rows_a, rows_b, one_sided


def _pairs_table(pairs: pd.DataFrame, *, compact: bool = False) -> pd.DataFrame:
    """The public pairs table (``PAIRS_COLUMNS``) of ``_pairs``'s frame, text as object.

    With ``compact`` the text columns stay the categoricals of ``_pairs`` (shared, not copied;
    ``refused_side`` a categorical too): the same values and the same CSV, without a string
    pointer per row and column (~8 bytes × 14 columns per pair row).
    """
    ref_a, ref_b = pairs["ref_a"].to_numpy(bool), pairs["ref_b"].to_numpy(bool)
    codes = np.select([ref_a & ref_b, ref_a, ref_b], [1, 2, 3], default=0).astype(np.int8)
    side = pd.Categorical.from_codes(codes, categories=pd.Index(["", "both", "a", "b"], dtype=object))
    # text as object, as the joined frame had it (as str where a side was missing: the old
    # join filled the gaps and inferred the dtypes)
    text = "str" if pairs.attrs.get("one_sided") else object
    data: dict[str, Any] = {}
    for col in PAIRS_COLUMNS:
        if col == "refused_side":
            data[col] = pd.Series(side) if compact else pd.Series(side.astype(object), dtype=object)
        elif col == "sample":
            data[col] = pd.Series(pairs[col].to_numpy(np.int64))
        elif col in ("valid", "asymmetric"):
            data[col] = pd.Series(pairs[col].to_numpy(bool))
        else:
            data[col] = pairs[col] if compact else pairs[col].astype(object).astype(text)
    return pd.DataFrame(data, columns=PAIRS_COLUMNS, copy=False)


def pairs_table(responses: pd.DataFrame) -> pd.DataFrame:
    """One row per target × pair × sample: side A's and side B's labels side by side.

    ``valid``: both sides are answers. ``asymmetric``: valid and exactly one side is a strict
    refusal. ``refused_side``: ``a``, ``b``, ``both`` or '' (neither, or not valid).
    """
    return _pairs_table(_pairs(normalise_responses(responses)))


# --- row helpers -------------------------------------------------------------------------------


def _frame(rows: list[Row], columns: list[str]) -> pd.DataFrame:
    """A table with exactly ``columns`` (in order), defaults filled, stable dtypes."""
    out = pd.DataFrame(rows, columns=columns)
    for col in columns:
        if col in _DEFAULTS:
            values = out[col].astype(object)
            default = _DEFAULTS[col]
            out[col] = values.where(values.notna(), default).astype(type(default))
        else:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out


def _interval_row(metric: str, ci: Any, k: float, n: float, scope: str, **extra: Any) -> Row:
    """A summary row from an Interval/ClusteredInterval and its counts."""
    row: Row = {"metric": metric, "estimate": ci.estimate, "ci_low": ci.low, "ci_high": ci.high,
                "k": k, "n": n, "method": ci.method, "scope": scope}
    if isinstance(ci, stats.ClusteredInterval):
        row.update(design_effect=ci.design_effect, n_eff=ci.n_eff, clusters=ci.clusters)
    row.update(extra)
    return row


def _test_row(metric: str, test: stats.TestResult, k: float, n: float, scope: str) -> Row:
    """A summary row whose estimate is a p-value."""
    return {"metric": metric, "estimate": test.p_value, "k": k, "n": n, "method": test.method,
            "p_value": test.p_value, "statistic": test.statistic, "scope": scope}


def _rate_rows(
    metric: str, by_topic: pd.DataFrame, scope: str, confidence: float, headline: bool
) -> list[Row]:
    """Headline KG-CP (topic-clustered) row and the naive Wilson row of one rate."""
    y, n = by_topic["y"].to_numpy(float), by_topic["n"].to_numpy(float)
    k, total = float(y.sum()), float(n.sum())
    kg = stats.kg_ci(y, n, confidence)
    wilson = stats.wilson_ci(k, total, confidence)
    return [_interval_row(metric, kg, k, total, scope, headline=headline),
            _interval_row(f"{metric}_wilson", wilson, k, total, scope,
                          note="ignores topic clustering; too narrow when topics differ")]


def _topic_totals(totals: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """Per-topic event counts ``y`` and sizes ``n`` of one outcome of ``_group_counts``."""
    return pd.DataFrame({"y": totals[outcome].astype(float), "n": totals["n"].astype(float)})


# --- per-target summary blocks -----------------------------------------------------------------


def _answer_rows(df: pd.DataFrame, confidence: float, calibration: Mapping[str, Any] | None
                 ) -> list[Row]:
    """Strict and broad refusal rates over contested answers (+ corrected rates)."""
    answers = df["contested"].to_numpy(bool) & df["answer"].to_numpy(bool)
    totals = _group_counts(df, ["topic"], answers,
                           {outcome: df[outcome].to_numpy(bool) for outcome in ("strict", "broad")})
    scope = "contested answers"
    rows = _rate_rows("refusal_rate", _topic_totals(totals, "strict"), scope, confidence, True)
    rows += _rate_rows("refusal_rate_broad", _topic_totals(totals, "broad"), scope,
                       confidence, True)
    for outcome, cal in _calibrations(calibration).items():
        metric = "refusal_rate_corrected" if outcome == "strict" else "refusal_rate_broad_corrected"
        rows.append(_corrected_row(metric, int(totals[outcome].sum()), int(answers.sum()), cal,
                                   confidence))
    return rows


def _calibrations(calibration: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Which calibration applies to the strict and to the broad rate.

    A plain ``{sensitivity, specificity, n_pos, n_neg}`` applies to the strict rate. The
    classifier's calibration file (``positive = "refusal or partial_refusal"``) applies to the
    broad rate, and its ``strict`` entry to the strict rate.
    """
    if not calibration:
        return {}
    positive = str(calibration.get("positive", "refusal"))
    if "partial" not in positive:
        return {"strict": calibration}
    out: dict[str, Mapping[str, Any]] = {}
    if isinstance(calibration.get("strict"), Mapping):
        out["strict"] = calibration["strict"]
    out["broad"] = calibration
    return out


def _corrected_row(metric: str, k: int, n: int, cal: Mapping[str, Any], confidence: float
                   ) -> Row:
    """A refusal rate corrected for classifier error (Rogan–Gladen + Lang–Reiczigel, §7)."""
    try:
        se, sp = float(cal["sensitivity"]), float(cal["specificity"])
        n_pos, n_neg = int(cal["n_pos"]), int(cal["n_neg"])
    except (KeyError, TypeError, ValueError):
        return {"metric": metric, "k": k, "n": n, "method": "rogan-gladen / lang-reiczigel",
                "scope": "contested answers",
                "note": "calibration lacks sensitivity, specificity, n_pos or n_neg"}
    ci = stats.rogan_gladen_ci(k, n, se, sp, n_pos, n_neg, confidence)
    note = (f"sensitivity {se:.3f} (n={n_pos}), specificity {sp:.3f} (n={n_neg}); "
            "ignores topic clustering")
    return _interval_row(metric, ci, k, n, "contested answers", note=note)


def _pair_counts(pairs: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Per-group counts of valid pairs (groups by topic, in key order): the ``by`` columns,
    then n, a (both), b (only A), c (only B) as floats."""
    by = by or ["topic"]
    valid = pairs["valid"].to_numpy(bool)
    if not valid.any():
        return pd.DataFrame({c: pd.Series([], dtype=float) for c in ("n", "a", "b", "c")})
    ref_a, ref_b = pairs["ref_a"].to_numpy(bool), pairs["ref_b"].to_numpy(bool)
    out = _group_counts(pairs, by, valid, {"a": ref_a & ref_b, "b": ref_a & ~ref_b,
                                           "c": ref_b & ~ref_a})
    return out.astype(dict.fromkeys(("n", "a", "b", "c"), float))


def _varies(values: np.ndarray) -> bool:
    """Whether the integers ``values`` hold more than one distinct value (min ≠ max: no hash
    table of the values, as ``nunique`` builds)."""
    return bool(len(values) and values.min() != values.max())


def _multi_sample(frame: pd.DataFrame) -> bool:
    """True when the frame (one target) holds several samples per prompt."""
    return _varies(frame["sample"].to_numpy()) if "sample" in frame else False


def _per_pair(pairs: pd.DataFrame) -> pd.DataFrame | None:
    """Per-pair counts n, a, b, c summed over samples; None with one sample per prompt."""
    valid = pairs["valid"].to_numpy(bool)
    multi = _multi_sample(pd.DataFrame({"sample": pairs["sample"].to_numpy()[valid]}))
    return _pair_counts(pairs, ["pair_id"]) if multi else None


def _pair_rows(pairs: pd.DataFrame, confidence: float) -> list[Row]:
    """Asymmetric rate, the 2×2 counts, net direction, direction share and McNemar tests."""
    counts = _pair_counts(pairs)
    n, a, b, c = (float(counts[col].sum()) for col in ("n", "a", "b", "c"))
    scope = "valid pairs"
    asym = pd.DataFrame({"y": counts["b"] + counts["c"], "n": counts["n"]})
    rows = _rate_rows("asymmetric_refusal_rate", asym, scope, confidence, True)
    per_pair = _per_pair(pairs)
    for name, k in (("both_refused", a), ("only_a_refused", b), ("only_b_refused", c),
                    ("neither_refused", n - a - b - c)):
        rows.append(_cell_row(name, k, n, scope, confidence, per_pair))
    rows += _direction_rows(counts, confidence, "", "positive = side A refused more", per_pair)
    return rows


def _cell_row(name: str, k: float, n: float, scope: str, confidence: float,
              per_pair: pd.DataFrame | None) -> Row:
    """One cell of the 2×2 pair table: Wilson with one sample per prompt; with several,
    KG-CP over pair × sample rows with the pair as the cluster."""
    if per_pair is None:
        return _interval_row(name, stats.wilson_ci(k, n, confidence), k, n, scope)
    a_i, b_i, c_i, n_i = (per_pair[col].to_numpy(float) for col in ("a", "b", "c", "n"))
    y_i = {"both_refused": a_i, "only_a_refused": b_i, "only_b_refused": c_i,
           "neither_refused": n_i - a_i - b_i - c_i}[name]
    return _interval_row(name, stats.kg_ci(y_i, n_i, confidence, cluster="pair"), k, n, scope,
                         note="samples clustered in pairs")


def _direction_rows(counts: pd.DataFrame, confidence: float, prefix: str, note: str,
                    per_pair: pd.DataFrame | None = None) -> list[Row]:
    """δ = (b−c)/N (three intervals), the direction share and the McNemar-type tests.

    ``per_pair`` (per-pair counts, given with several samples per prompt) switches the rows
    that ignore topic clustering to pair-clustered methods (see the module docstring).
    """
    b_k, c_k, n_k = (counts[col].to_numpy(float) for col in ("b", "c", "n"))
    n, b, c = float(n_k.sum()), float(b_k.sum()), float(c_k.sum())
    durk = stats.durkalski_test(b_k, c_k)
    unclustered = (_pair_level_rows(per_pair, confidence, prefix, note)
                   if per_pair is not None else _sample_level_rows(b, c, n, confidence, prefix,
                                                                   note))
    return [
        _interval_row(f"{prefix}net_direction", stats.clustered_bp_ci(b_k, c_k, n_k, confidence),
                      b - c, n, "valid pairs", headline=True, p_value=durk.p_value,
                      statistic=durk.statistic, note=note),
        _interval_row(f"{prefix}net_direction_cluster_t",
                      stats.clustered_delta_ci(b_k, c_k, n_k, confidence), b - c, n,
                      "valid pairs", p_value=durk.p_value, statistic=durk.statistic, note=note),
        *unclustered,
        _test_row(f"{prefix}durkalski_p", durk, b, b + c, "discordant pairs"),
    ]


def _sample_level_rows(b: float, c: float, n: float, confidence: float, prefix: str, note: str
                       ) -> list[Row]:
    """Rows that ignore topic clustering, one sample per prompt: BP, share, exact McNemar."""
    scope, disc = "valid pairs", "discordant pairs"
    exact = stats.mcnemar_exact(int(b), int(c))
    return [
        _interval_row(f"{prefix}net_direction_bp", stats.bonett_price_ci(b, c, n, confidence),
                      b - c, n, scope, p_value=exact.p_value,
                      note=f"{note}; ignores topic clustering"),
        _interval_row(f"{prefix}direction_share_a", stats.direction_share_ci(b, c, confidence),
                      b, b + c, disc, p_value=exact.p_value,
                      note="share of asymmetric pairs where A refused"),
        _test_row(f"{prefix}mcnemar_exact_p", exact, b, b + c, disc),
        _test_row(f"{prefix}mcnemar_midp", stats.mcnemar_midp(int(b), int(c)), b, b + c, disc),
    ]


def _pair_level_rows(per_pair: pd.DataFrame, confidence: float, prefix: str, note: str
                     ) -> list[Row]:
    """The same rows with several samples per prompt: samples clustered in their pair.

    δ: Bonett–Price with the pair design effect; share: KG-CP over pairs; tests: the exact
    (and mid-p) sign test on pairs, whose counts are the pairs leaning A and leaning B.
    """
    b_i, c_i, n_i = (per_pair[col].to_numpy(float) for col in ("b", "c", "n"))
    n, b, c = float(n_i.sum()), float(b_i.sum()), float(c_i.sum())
    exact, midp = stats.pair_sign_test(b_i, c_i), stats.pair_sign_test(b_i, c_i, midp=True)
    lean_a, lean_b = float((b_i > c_i).sum()), float((c_i > b_i).sum())
    leaning = "pairs leaning one way (samples summed per pair)"
    sign_note = "k = pairs leaning A, n = pairs leaning either way; samples clustered in pairs"
    return [
        _interval_row(f"{prefix}net_direction_bp",
                      stats.clustered_bp_ci(b_i, c_i, n_i, confidence, cluster="pair"),
                      b - c, n, "valid pairs", p_value=exact.p_value,
                      note=f"{note}; ignores topic clustering; samples clustered in pairs"),
        _interval_row(f"{prefix}direction_share_a",
                      stats.kg_ci(b_i, b_i + c_i, confidence, cluster="pair"), b, b + c,
                      "discordant pairs", p_value=exact.p_value,
                      note="share of asymmetric pairs where A refused; samples clustered in "
                           "pairs"),
        {**_test_row(f"{prefix}mcnemar_exact_p", exact, lean_a, lean_a + lean_b, leaning),
         "note": sign_note},
        {**_test_row(f"{prefix}mcnemar_midp", midp, lean_a, lean_a + lean_b, leaning),
         "note": sign_note},
    ]


def _lean_pairs(pairs: pd.DataFrame) -> tuple[pd.DataFrame, str, str]:
    """Valid pairs opposing the two most common leans, oriented lean1 (alphabetical) first."""
    # lean_a and lean_b share their categories (both come from the normalised lean column),
    # so their codes compare; counting codes in order of appearance gives the same ranking
    # (ties included) as counting the strings
    lean_a, lean_b = _cat_codes(pairs["lean_a"]), _cat_codes(pairs["lean_b"])
    cats = np.asarray(pairs["lean_a"].cat.categories, dtype=object)
    valid = (pairs["valid"].to_numpy(bool) & ~_is(pairs["lean_a"], "") & ~_is(pairs["lean_b"], "")
             & (lean_a != lean_b))
    common = pd.Series(np.concatenate([lean_a[valid], lean_b[valid]])).value_counts()
    if len(common) < 2:
        return pairs.iloc[0:0], "", ""
    lean1, lean2 = sorted(cats[common.index[:2].to_numpy()])
    keep = valid & _is(pairs["lean_a"], lean1, lean2) & _is(pairs["lean_b"], lean1, lean2)
    a_is_1 = _is(pairs["lean_a"], lean1)[keep]
    ref_a, ref_b = pairs["ref_a"].to_numpy(bool)[keep], pairs["ref_b"].to_numpy(bool)[keep]
    oriented = _columns({"topic": pairs["topic"][keep], "pair_id": pairs["pair_id"][keep],
                         "sample": pairs["sample"][keep], "valid": np.ones(len(ref_a), dtype=bool),
                         "ref_a": np.where(a_is_1, ref_a, ref_b),
                         "ref_b": np.where(a_is_1, ref_b, ref_a)})
    return oriented, lean1, lean2


def _lean_rows(pairs: pd.DataFrame, confidence: float) -> list[Row]:
    """Which lean is refused more: per-lean refusal rates and a clustered McNemar on lean."""
    oriented, lean1, lean2 = _lean_pairs(pairs)
    if not lean1:
        return []
    n = float(len(oriented))
    scope = f"valid pairs opposing {lean1} and {lean2}"
    per_pair = _per_pair(oriented)
    rows = [_lean_rate_row(lean, side, oriented, per_pair, n, scope, confidence)
            for lean, side in ((lean1, "a"), (lean2, "b"))]
    note = f"positive = {lean1} side refused more than {lean2} side"
    direction = _direction_rows(_pair_counts(oriented), confidence, "lean_", note, per_pair)
    for row in direction:
        row["headline"] = False
        if row["scope"] == "valid pairs":
            row["scope"] = scope
    return rows + direction


def _lean_rate_row(lean: str, side: str, oriented: pd.DataFrame, per_pair: pd.DataFrame | None,
                   n: float, scope: str, confidence: float) -> Row:
    """Refusal rate of one lean's side: Wilson with one sample per prompt; with several,
    KG-CP with the prompt as the cluster (the pair's ``side`` prompt: one per pair)."""
    k, metric = float(oriented[f"ref_{side}"].sum()), f"refusal_rate_lean_{lean}"
    note = f"refusals of the {lean} side"
    if per_pair is None:
        return _interval_row(metric, stats.wilson_ci(k, n, confidence), k, n, scope, note=note)
    only = "b" if side == "a" else "c"  # ref_a = both + only A; ref_b = both + only B
    y_i = per_pair["a"].to_numpy(float) + per_pair[only].to_numpy(float)
    ci = stats.kg_ci(y_i, per_pair["n"].to_numpy(float), confidence, cluster="prompt")
    return _interval_row(metric, ci, k, n, scope, note=f"{note}; samples clustered in prompts")


def _request_rows(df: pd.DataFrame, confidence: float) -> list[Row]:
    """Non-answer rates over all requests (all kinds)."""
    n = float(len(df))
    rows = []
    for label in NON_ANSWER_LABELS:
        metric, k = f"{label}_rate", float(df[f"is_{label}"].sum())
        rows.append(_interval_row(metric, stats.wilson_ci(k, n, confidence), k, n,
                                  "all requests", headline=metric == "error_rate"))
    return rows


def _control_rows(df: pd.DataFrame, confidence: float) -> list[Row]:
    """Strict refusal rates on the control prompts (should-refuse and should-comply)."""
    rows = []
    for kind in ("control_refuse", "control_comply"):
        answers = df[(df["kind"] == kind) & df["answer"]]
        k, n = float(answers["strict"].sum()), float(len(answers))
        rows.append(_interval_row(f"{kind}_refusal_rate", stats.wilson_ci(k, n, confidence),
                                  k, n, f"{kind} answers"))
    return rows


def _target_rows(target: str, df: pd.DataFrame, pairs: pd.DataFrame, confidence: float,
                 calibration: Mapping[str, Any] | None) -> list[Row]:
    """All summary rows of one target."""
    rows = (_answer_rows(df, confidence, calibration) + _pair_rows(pairs, confidence)
            + _lean_rows(pairs, confidence) + _request_rows(df, confidence)
            + _control_rows(df, confidence))
    for row in rows:
        row["target"] = target
    return rows


def summary_table(
    responses: pd.DataFrame,
    *,
    confidence: float = 0.95,
    calibration: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The summary table: one row per target × metric (``SUMMARY_COLUMNS``).

    Headline rows (``headline`` True): ``refusal_rate`` and ``refusal_rate_broad`` (KG-CP,
    topic-clustered, over contested answers), ``asymmetric_refusal_rate`` (KG-CP over valid
    pairs), ``net_direction`` (δ = (b−c)/N, Bonett–Price on the topic-clustered effective n,
    Durkalski p-value) and ``error_rate`` (Wilson over all requests). ``*_wilson`` rows give the
    naive Wilson intervals, ``net_direction_cluster_t`` the methods note's §3 cluster-t interval.
    ``calibration`` (``sensitivity``, ``specificity``, ``n_pos``, ``n_neg``) adds
    ``refusal_rate_corrected``; the classifier's calibration file (broad ``positive`` with a
    ``strict`` entry) adds ``refusal_rate_broad_corrected`` too.
    """
    df = normalise_responses(responses)
    return _summary(df, _pairs(df), confidence, calibration)


def _summary(df: pd.DataFrame, pairs: pd.DataFrame, confidence: float,
             calibration: Mapping[str, Any] | None) -> pd.DataFrame:
    """``summary_table`` on a normalised frame and its pairs."""
    codes = _cat_codes(df["target"])
    names = np.asarray(df["target"].cat.categories, dtype=object)
    pair_columns = ["topic", "pair_id", "sample", "lean_a", "lean_b", "valid", "ref_a", "ref_b"]
    rows: list[Row] = []
    for code in np.unique(codes):  # sorted categories: alphabetical order of the targets
        target = names[code]
        part = df.loc[codes == code, _TARGET_COLUMNS]
        target_pairs = pairs.loc[_is(pairs["target"], target), pair_columns]
        rows += _target_rows(str(target), part, target_pairs, confidence, calibration)
    return _frame(rows, SUMMARY_COLUMNS)


_TARGET_COLUMNS = ["topic", "kind", "contested", "answer", "strict", "broad",
                   *(f"is_{label}" for label in NON_ANSWER_LABELS)]


# --- per-topic and per-template table ----------------------------------------------------------


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



@dataclass(frozen=True)
class AuditTables:
    """The three statistics tables of a run folder."""

    summary: pd.DataFrame
    pairs: pd.DataFrame
    topics: pd.DataFrame


def audit_tables(
    responses: pd.DataFrame,
    *,
    confidence: float = 0.95,
    calibration: Mapping[str, Any] | None = None,
    q: float = 0.05,
    compact_pairs: bool = False,
) -> AuditTables:
    """``summary``, ``pairs`` and ``topics`` tables at once (normalises and pairs only once).

    ``compact_pairs``: the pairs table keeps its text columns categorical (the same values and
    the same pairs.csv, a fraction of the memory: what a run of a million answers writes).
    """
    df = normalise_responses(responses)
    pairs = _pairs(df)
    summary = _summary(df, pairs, confidence, calibration)
    topics = _topics(df, pairs, confidence, q)
    del df
    return AuditTables(summary, _pairs_table(pairs, compact=compact_pairs), topics)
