"""Pairs: side A joined with side B per target × pair × sample, the public pairs table, and the
per-group counts of valid pairs (2×2 cells) that the summary and topics tables share.

Pairs pair sample j of side A with sample j of side B. ``pairs_table`` and ``PAIRS_COLUMNS``
are public through ``audit.stats._tables`` (and so ``audit.stats``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.stats._grouping import Rows, _group_counts
from audit.stats._normalise import (
    _cat_codes,
    _categorical,
    _columns,
    _is,
    _small,
    normalise_responses,
)

__all__ = []  # public names are listed by ``_tables``, the face of the tables

PAIRS_COLUMNS = ["target", "pair_id", "sample", "topic", "category", "template", "lean_a",
                 "lean_b", "stance_a", "stance_b", "prompt_id_a", "prompt_id_b", "label_a",
                 "label_b", "valid", "asymmetric", "refused_side"]


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
