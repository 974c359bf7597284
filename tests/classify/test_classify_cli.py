"""The classifier commands, run through the real CLI entry point; assertions on what they write."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from tests.support.gold_files import XSTEST_FILES, generic, needs_xstest, write
from tests.support.judge_server import JudgeServer, by_answer


def test_evaluate_prints_figures_and_saves_calibration(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    cal = tmp_path / "cal.json"
    code = main(["classifier", "evaluate", str(generic(tmp_path)), "--format", "csv",
                 "--save-calibration", str(cal)])
    assert code == 0
    data = json.loads(cal.read_text())
    assert (data["n_pos"], data["n_neg"]) == (2, 1)
    assert (data["sensitivity"], data["specificity"]) == (1.0, 1.0)
    out = capsys.readouterr().out
    assert "binary accuracy" in out and "false-positive rate" in out


@needs_xstest
def test_evaluate_pools_the_xstest_files(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    cal = tmp_path / "cal.json"
    args = ["classifier", "evaluate", *map(str, XSTEST_FILES), "--save-calibration", str(cal)]
    assert main(args) == 0
    data = json.loads(cal.read_text())
    assert data["n_pos"] + data["n_neg"] == 1350 and len(data["gold"]) == 3
    out = capsys.readouterr().out
    assert "pooled" in out and "gpt4" in out


def test_evaluate_with_the_ensemble(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with JudgeServer(by_answer) as srv:
        code = main(["classifier", "evaluate", str(generic(tmp_path)), "--format", "csv",
                     "--classifier", "ensemble", "--threshold", "1.0", "--judge-base-url", srv.url,
                     "--judge-model", "j", "--judge-journal", str(tmp_path / "j.jsonl")])
    assert code == 0
    assert len(srv.bodies) == 3
    assert "3 answers went to the judge" in capsys.readouterr().out
    assert len((tmp_path / "j.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("args, message", [
    (["--format", "csv", "--classifier", "regex"], "unknown classifier 'regex'"),
    (["--format", "csv", "--classifier", "judge"], "--judge-base-url"),
    (["--format", "csv", "--classifier", "judge", "--judge-base-url", "http://127.0.0.1:9/v1",
      "--judge-model", "m", "--judge-api-key-env", "NO_SUCH_KEY_VAR_X"],
     "NO_SUCH_KEY_VAR_X is not set"),
    (["--format", "xml"], "unknown gold format 'xml'"),
    (["--format", "xstest"], "no column 'completion'"),
])
def test_user_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          args: list[str], message: str) -> None:
    assert main(["classifier", "evaluate", str(generic(tmp_path)), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_gold_label_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.csv", "prompt,response,label\np,r,compliance\np,r,yes\n")
    assert main(["classifier", "evaluate", str(bad), "--format", "csv"]) == 2
    assert "bad.csv:3: column 'label' has an unknown label 'yes'" in capsys.readouterr().err


def test_classify_writes_labels_safely(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame({
        "q": ["Write X", "Write Y", "Write Z", "Write W"],
        "a": ["=HYPERLINK(\"http://x\") Sure, here is X.", "I can't help with that.", "", "cut"],
        "finish_reason": ["stop", "stop", "stop", "length"],
    }).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    code = main(["classify", str(src), "--prompt-column", "q", "--response-column", "a",
                 "-o", str(out)])
    assert code == 0
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert got["label"].tolist() == ["compliance", "refusal", "empty", "truncated"]
    assert {"confidence", "evidence"} <= set(got.columns)
    assert got["a"][0].startswith("'=")  # formula neutralised


def test_classify_names_a_missing_column(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "in.csv", "prompt,answer\np,a\n")
    assert main(["classify", str(src), "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "in.csv:1: no column 'response' (columns: prompt, answer)" in err
    assert main(["classify", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o.csv")]) == 2


@pytest.mark.parametrize("text, line, fields", [
    # the first row too long: pandas alone would shift it (extra leading field as an index)
    ("prompt,response\nWrite X,Sure, here is X.\nWrite Y,I can't.\n", 2, 3),
    # a later row too long, after a quoted field that spans two lines: the physical line
    ("prompt,response\n\"Write\nX\",\"Sure, here\"\nWrite Y,I can't, sorry,really\n", 4, 4),
])
def test_classify_rejects_a_ragged_row_naming_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, fields: int) -> None:
    src = write(tmp_path / "ragged.csv", text)
    out = tmp_path / "o.csv"
    assert main(["classify", str(src), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"ragged.csv:{line}: the row has {fields} fields but the header has 2" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_classify_accepts_quoted_commas_and_short_rows(tmp_path: Path) -> None:
    src = write(tmp_path / "in.csv", "prompt,response,finish_reason\n"
                                     "\"Write X, please\",\"Sure, here is X.\",stop\nWrite Y,I can't help with that.\n")
    out = tmp_path / "o.csv"
    assert main(["classify", str(src), "-o", str(out)]) == 0
    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert got["prompt"].tolist() == ["Write X, please", "Write Y"]
    assert got["label"].tolist() == ["compliance", "refusal"]


def test_evaluate_reads_issuebench_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = write(tmp_path / "stance.csv", "item_id,prompt_text,response_text,final_label\n"
                 "a,Write an essay on taxes.,Here is the essay: taxes fund schools.,1 - only pro\n"
                 "b,Write an essay on taxes.,I can't help with that.,refusal\n"
                 "c,Write an essay on taxes.,Taxes are a contested topic.,3 - neutral/ambivalent\n")
    assert main(["classifier", "evaluate", str(path), "--format", "issuebench"]) == 0
    out = capsys.readouterr().out
    assert "strict refusal recall │ 1.000" in out and "refusal F1 (strict)   │ 1.000" in out


@needs_xstest
def test_evaluate_shows_the_benchmarks_figures(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    bench = Path(__file__).resolve().parents[2] / "bench" / "classifier_eval.py"
    spec = importlib.util.spec_from_file_location("classifier_eval", bench)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    xs, ib = module.load(XSTEST_FILES[0].parents[1])
    figures = module.evaluations(xs, ib, module.build)
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["classifier", "evaluate", *map(str, XSTEST_FILES)]) == 0
    out = capsys.readouterr().out
    for key in ("binary_accuracy", "accuracy_3class", "strict_refusal_recall",
                "compliant_flagged"):
        text = figures[f"xstest.{key}"][1]  # "0.970 [0.959, 0.978] (1309/1350)"
        assert text.replace("(", "").replace(")", "") in out, key
