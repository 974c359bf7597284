"""The labelled responses frame: its columns, one row per answer, and :class:`CompactFrame`, the
memory-light form (categorical codes, no long texts) handed to the statistics."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from audit.prompts._schema import Prompt

PROMPT_COLUMNS = ("pair_id", "side", "topic", "category", "template", "stance", "lean", "kind")
RESPONSES_CSV = "responses.csv"
VERDICT_COLUMNS = ("label", "confidence", "evidence")
RESPONSE_COLUMNS = [
    "run_id", "target", "model", "request_id", "prompt_id", "pair_id", "side", "topic", "category",
    "template", "stance", "lean", "kind", "sample", "prompt", "answer", "finish_reason", "truncated",
    "label", "confidence", "evidence", "error", "latency_s", "attempts",
]
TEXT_ONLY_COLUMNS = ("request_id", "prompt", "answer", "evidence")
DIAGNOSTIC_COLUMNS = ("confidence", "latency_s", "attempts")
"""Per-answer diagnostics that responses.csv keeps (written from the full-precision chunk) and
that no statistic, table, run.json field or report reads from the labelled frame: 25 bytes per
answer the compact frame does not carry (review reads confidence back from responses.csv)."""
COMPACT_COLUMNS = [c for c in RESPONSE_COLUMNS if c not in TEXT_ONLY_COLUMNS + DIAGNOSTIC_COLUMNS]


def response_row(run_id: str, rec: dict[str, Any], p: Prompt) -> dict[str, Any]:
    """One row of responses.csv, before labelling."""
    return {
        "run_id": run_id, "target": rec["target"], "model": rec["model"], "request_id": rec["request_id"],
        "prompt_id": p.id, **{c: getattr(p, c) for c in PROMPT_COLUMNS}, "sample": rec["sample"],
        "prompt": p.text, "answer": rec.get("answer"), "finish_reason": rec.get("finish_reason"),
        "truncated": rec.get("finish_reason") == "length", "error": rec.get("error"),
        "latency_s": rec.get("latency_s"), "attempts": rec.get("attempts"),
    }


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Lists of at most ``size`` rows; one empty list when there is no row (so an empty run
    still gets a responses.csv header and an empty, typed frame)."""
    chunk: list[dict[str, Any]] = []
    produced = False
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            produced, chunk = True, []
    if chunk or not produced:
        yield chunk


def _row_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A chunk's rows as a frame with fixed dtypes (the same in every chunk, so the CSV's number
    formats never depend on where a chunk boundary falls)."""
    frame = pd.DataFrame(rows, columns=[c for c in RESPONSE_COLUMNS if c not in VERDICT_COLUMNS])
    frame["sample"] = frame["sample"].astype(np.int64)
    frame["truncated"] = frame["truncated"].astype(bool)
    frame["latency_s"] = pd.to_numeric(frame["latency_s"], errors="coerce").astype(np.float64)
    frame["attempts"] = pd.to_numeric(frame["attempts"], errors="coerce").astype("Int64")
    return frame


def _code_dtype(n: int) -> np.dtype[Any]:
    """The integer type pandas gives the codes of a categorical with ``n`` categories (so
    ``Categorical.from_codes`` keeps the array as it is)."""
    for kind in (np.int8, np.int16, np.int32):
        if n < np.iinfo(kind).max:
            return np.dtype(kind)
    return np.dtype(np.int64)


class _TextColumn:
    """A text column kept as category codes into one dictionary shared by every chunk, in an
    array allocated once, wide enough for ``expected`` distinct values (it widens when the
    dictionary outgrows it)."""

    def __init__(self, capacity: int, expected: int = 0) -> None:
        self.cats: dict[Any, int] = {}
        self.codes = np.empty(capacity, dtype=_code_dtype(expected))

    def put(self, start: int, values: pd.Series) -> None:
        """Store the codes of ``values`` at rows ``start`` onwards."""
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        mapping = np.array([self.cats.setdefault(u, len(self.cats)) for u in uniques] + [-1], dtype=np.int64)
        wide = _code_dtype(len(self.cats))
        if wide.itemsize > self.codes.dtype.itemsize:
            self.codes = self.codes.astype(wide)
        self.codes[start:start + len(codes)] = mapping[codes]

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` rows."""
        self.codes = np.resize(self.codes, capacity)

    def result(self, rows: int) -> pd.Categorical:
        """The first ``rows`` rows as a categorical."""
        cats = pd.Index(list(self.cats), dtype=object)
        return pd.Categorical.from_codes(self.codes[:rows], categories=cats)


class _ValueColumn:
    """A number or flag column in an array allocated once (widened if a chunk's values need
    another dtype)."""

    def __init__(self, capacity: int, dtype: Any) -> None:
        self.values: Any = _empty(dtype, capacity)

    def put(self, start: int, values: pd.Series) -> None:
        """Store ``values`` at rows ``start`` onwards."""
        if not len(values):
            return
        numpy = isinstance(values.dtype, np.dtype) and isinstance(self.values, np.ndarray)
        if values.dtype != self.values.dtype and not (numpy and np.can_cast(values.dtype, self.values.dtype)):
            self.values = self.values.astype(np.result_type(self.values.dtype, values.dtype) if numpy else object)
        if isinstance(self.values, np.ndarray):
            self.values[start:start + len(values)] = values.to_numpy(dtype=self.values.dtype)
        else:
            self.values[start:start + len(values)] = values.array

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` rows."""
        more = _empty(self.values.dtype, capacity - len(self.values))
        self.values = np.concatenate([self.values, more]) if isinstance(more, np.ndarray) \
            else type(more)._concat_same_type([self.values, more])

    def result(self, rows: int) -> Any:
        """The first ``rows`` rows."""
        return self.values[:rows] if rows < len(self.values) else self.values


def _empty(dtype: Any, capacity: int) -> Any:
    """An array of ``capacity`` rows of ``dtype`` (a numpy array, or a pandas extension array
    of missing values for types such as Int64) to fill later."""
    if isinstance(dtype, np.dtype):
        return np.empty(capacity, dtype=dtype)
    return pd.array([], dtype=dtype).take(np.full(capacity, -1, dtype=np.intp), allow_fill=True)


COMPACT_NUMBERS: dict[str, Any] = {"sample": np.dtype(np.int64), "truncated": np.dtype(bool)}
"""The number and flag columns of the compact frame and their dtypes (``_row_frame``'s); every
other compact column is text."""


class CompactFrame:
    """Accumulates the ``COMPACT_COLUMNS`` of labelled chunks: text columns as category codes
    (one shared dictionary per column), numbers and flags with ``COMPACT_NUMBERS``' dtypes.

    Each column is one array allocated up front for ``capacity`` rows (the number of answers:
    then nothing is copied or concatenated; more rows make the arrays grow), its codes as wide
    as ``categories`` (distinct values expected per text column) asks. Allocated before the
    first chunk and never per chunk, they sit below the chunks' garbage instead of amid it, so
    the memory the chunks free afterwards is one block that the statistics reuse.
    """

    def __init__(self, capacity: int = 0, categories: Mapping[str, int] | None = None) -> None:
        self.capacity = capacity
        expected = categories or {}
        self._columns: dict[str, _TextColumn | _ValueColumn] = {
            col: _ValueColumn(capacity, COMPACT_NUMBERS[col]) if col in COMPACT_NUMBERS
            else _TextColumn(capacity, expected.get(col, 0)) for col in COMPACT_COLUMNS}
        self.rows = 0

    def add(self, chunk: pd.DataFrame) -> None:
        """Keep the compact columns of one labelled chunk."""
        end = self.rows + len(chunk)
        if end > self.capacity:
            self.capacity = max(end, 2 * self.capacity)
            for column in self._columns.values():
                column.grow(self.capacity)
        for col, column in self._columns.items():
            column.put(self.rows, chunk[col])
        self.rows = end

    def frame(self) -> pd.DataFrame:
        """The compact frame, one row per answer added, in order (the columns are the arrays
        kept, not copies)."""
        data = {col: column.result(self.rows) for col, column in self._columns.items()}
        return pd.DataFrame(data, columns=COMPACT_COLUMNS, copy=False)
