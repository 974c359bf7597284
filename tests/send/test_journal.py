"""The journal: append-only, torn last line repaired, bad lines named."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.errors import InputError
from audit.send import _journal as jr


def test_append_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    with jr.Journal(path) as j:
        j.append({"request_id": "a", "answer": "x"})
        j.append({"request_id": "b", "answer": "ü ✓"})
    assert [r["request_id"] for r in jr.iter_records(path)] == ["a", "b"]
    assert jr.done_ids(path) == {"a", "b"}


def test_a_torn_last_line_is_skipped_then_cut_on_open(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    path.write_bytes(b'{"request_id":"a"}\n{"request_id":"b"}\n{"request_id":"c","ans')
    assert jr.done_ids(path) == {"a", "b"}
    with jr.Journal(path) as j:
        assert j.repaired_bytes == len(b'{"request_id":"c","ans')
        j.append({"request_id": "c"})
    assert jr.done_ids(path) == {"a", "b", "c"}


def test_a_torn_line_without_any_newline(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    path.write_bytes(b'{"request_')
    assert jr.repair(path) == 10 and path.read_bytes() == b""


def test_a_corrupt_line_in_the_middle_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    path.write_bytes(b'{"request_id":"a"}\nnot json\n{"request_id":"b"}\n')
    with pytest.raises(InputError, match=r"responses.jsonl:2"):
        jr.done_ids(path)


def test_offsets_read_back_the_same_records_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "responses.jsonl"
    path.write_bytes('{"request_id":"a","answer":"ü"}\n\n{"request_id":"b"}\n{"request_id":"c"}\n{"torn'.encode())
    pairs = list(jr.iter_offsets(path))
    assert [r for _, r in pairs] == list(jr.iter_records(path)) == [
        {"request_id": "a", "answer": "ü"}, {"request_id": "b"}, {"request_id": "c"}]
    offsets = [o for o, _ in pairs]
    assert list(jr.read_at(path, offsets[::-1])) == [r for _, r in pairs][::-1]
    assert list(jr.read_at(path, [offsets[0], offsets[2]])) == [pairs[0][1], pairs[2][1]]
