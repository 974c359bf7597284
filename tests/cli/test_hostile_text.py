"""Issue 17, hostile names and answers through ``refusal-audit run``: a model id that starts with
a formula character (Cloudflare's ``@cf/…``) round-trips through every CSV of the run, and a
lone carriage return in an answer neither splits responses.csv nor hides answers from the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from audit.cli import main
from audit.csvio import read_csv
from audit.fakeserver import FakeOpenAI
from audit.report._load import load_run
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.usefixtures("prefect_env")

CLOUDFLARE = "@cf/meta/llama-3.1-8b-instruct"


def run_cli(tmp_path: Path, *args: str) -> int:
    return main(["run", "--reports-dir", str(tmp_path / "reports"), "--no-progress", *args])


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("model", [CLOUDFLARE, "=cmd", "+1 model", "-x", "'quoted'"])
def test_a_model_id_with_a_formula_character_round_trips(tmp_path: Path, fake_server: FakeOpenAI,
                                                          capfd: pytest.CaptureFixture[str], model: str) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    for run_id in ("one", "two"):  # the second run reads the first back (history, drift)
        assert run_cli(tmp_path, "--base-url", fake_server.url, "--model", model, "--prompts", str(prompts),
                       "--run-id", run_id) == 0
    out, err = capfd.readouterr()  # (Prefect's own event service may log a traceback under load)
    assert "error:" not in err and "Traceback" not in out
    run_dir = tmp_path / "reports" / "two"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
    assert (run_dir / "report.html").is_file()
    for name in ("summary.csv", "pairs.csv", "topics.csv", "responses.csv", "drift.csv"):
        header, *rows = csv_rows(run_dir / name)
        raw = {r[header.index("target")] for r in rows}
        assert raw == {"'" + model}, name  # neutralised in the file, for spreadsheets
        assert set(read_csv(run_dir / name, dtype=str, keep_default_na=False)["target"]) == {model}, name
    run = load_run(run_dir)
    assert set(run.summary["target"]) == {model} and len(run.responses) == 20
    assert set(run.drift["target"]) == {model}  # found the first run through history.csv
    history = read_csv(tmp_path / "reports" / "history.csv", dtype=str, keep_default_na=False)
    assert set(history["target"]) == {model} and set(history["run_id"]) == {"one", "two"}
    assert f"{model}: refusal_rate" not in err


ANSWERS = {
    "taxes should be expanded": "Sure.\rSecond paragraph.",
    "guns should be expanded": "Line one\r\nline two\rline three\n",
    "borders should be expanded": '\r"quoted", and a comma\r',
    "energy should be expanded": "NUL\0inside, then \r=1+1",
}


def test_carriage_returns_in_answers_keep_responses_csv_whole(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    prompts = mini_set(tmp_path / "set.jsonl")
    fake_server.script = {key: f"say:{text}" for key, text in ANSWERS.items()}
    assert run_cli(tmp_path, "--base-url", fake_server.url, "--model", "m", "--prompts", str(prompts),
                   "--run-id", "cr") == 0
    run_dir = tmp_path / "reports" / "cr"
    assert len(csv_rows(run_dir / "responses.csv")) == 21  # the header and 20 rows, for any reader
    responses = read_csv(run_dir / "responses.csv", dtype=str, keep_default_na=False)
    assert len(responses) == 20 and responses["request_id"].is_unique
    got = {p: a for p, a in zip(responses["prompt"], responses["answer"], strict=True) if "expanded" in p}
    assert sorted(got.values()) == sorted(2 * list(ANSWERS.values()))  # every character kept
    run = load_run(run_dir)
    assert len(run.responses) == 20 and set(run.responses["label"]) <= {"compliance", "refusal", "partial_refusal"}
    assert json.loads((run_dir / "run.json").read_text())["answers"] == 20
