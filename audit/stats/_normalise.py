"""Input normalisation: the labelled responses frame cleaned into the columns the statistics use.

The normalised frame keeps every text column as a categorical whose categories are the cleaned
distinct values in sorted order (so grouping by codes gives the alphabetical order of the
strings) and whose codes are the smallest integers that fit: a few bytes per answer, whatever
the input's dtypes. Flags are bools, ``sample`` the smallest integer type that holds it.
Row-level work (``_grouping``, ``_pairs``) stays on codes; only aggregated (per-group) frames
are turned back into plain object columns.

``normalise_responses`` is public through ``audit.stats._tables`` (and so ``audit.stats``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.classify._labels import ANSWER_LABELS, NON_ANSWER_LABELS
from audit.csvio import TRUE_VALUES

__all__ = []  # public names are listed by ``_tables``, the face of the tables

TEXT_COLUMNS = ("target", "pair_id", "side", "topic", "category", "template", "stance", "lean",
                "kind", "label", "prompt_id")
LOWER_COLUMNS = ("side", "kind", "label")


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
    hit = np.asarray(text.cat.categories.isin(list(TRUE_VALUES)), dtype=bool)
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
