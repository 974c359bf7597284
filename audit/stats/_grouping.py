"""Grouping on category codes: row-level groupings of the normalised frame.

Groupings work on the category codes of the normalised frame: one intp group number per
(selected) row, renumbered in place block by block, and counts by ``np.bincount`` — about 8
bytes per row, where a pandas groupby or ``pd.factorize`` builds several int64 arrays and a hash
table sized by the rows. Groups come out in the order of ``groupby(..., sort=True,
observed=True)`` (sorted categories: the order of the strings) or, with ``sort=False``, in
order of first appearance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.stats._normalise import _cat_codes

__all__ = []  # private helpers of the tables

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


def _varies(values: np.ndarray) -> bool:
    """Whether the integers ``values`` hold more than one distinct value (min ≠ max: no hash
    table of the values, as ``nunique`` builds)."""
    return bool(len(values) and values.min() != values.max())
