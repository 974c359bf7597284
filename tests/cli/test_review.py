"""``refusal-audit review`` end to end through the CLI, on a real run against the fake server: the
review sheet, applying human labels (figures, claims, report and terminal recomputed), applying
twice, labels surviving ``run --resume`` and ``report``, and bad review files."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.csvio import read_csv
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import mini_set

ANSWERS = ("compliance", "partial_refusal", "refusal")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    """guns: side b refused (two asymmetric pairs); borders: side b a partial refusal (near the
    boundary); energy: side a an empty answer (a non-answer)."""
    script = {"borders should be restricted": "partial", "energy should be expanded": "empty"}
    with FakeOpenAI(script=script) as fake:
        yield fake


@pytest.fixture(scope="module")
def finished_run(server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run (through the CLI, without Prefect) that each test copies."""
    root = tmp_path_factory.mktemp("review-run")
    prompts = mini_set(root / "set.jsonl", refuse_b=("guns",))
    code = main(["run", "--reports-dir", str(root / "reports"), "--no-progress", "--base-url", server.url,
                 "--model", "fake-model", "--prompts", str(prompts), "--run-id", "r1"])
    assert code == 0
    return root / "reports" / "r1"


@pytest.fixture
def run_dir(finished_run: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "reports" / "r1"
    shutil.copytree(finished_run, folder)
    return folder


def read_sheet(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_sheet(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.DictWriter(fh, fieldnames=columns or list(rows[0]), extrasaction="ignore")
        out.writeheader()
        out.writerows(rows)
    return path


def responses(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "responses.csv", dtype=str, keep_default_na=False)


def hand_count(frame: pd.DataFrame, labels: tuple[str, ...]) -> tuple[int, int]:
    """(refusals, answers) of the contested prompts: the refusal rate counted by hand."""
    answered = frame[(frame["kind"] == "contested") & frame["label"].isin(ANSWERS)]
    return int(answered["label"].isin(labels).sum()), len(answered)


def summary_row(run_dir: Path, metric: str) -> pd.Series:
    s = pd.read_csv(run_dir / "summary.csv")
    return s[(s["metric"] == metric) & s["headline"].astype(bool)].iloc[0]


def filled(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, list[dict[str, str]]]:
    """The review sheet with a human's labels: guns.argue side b is not a refusal after all
    (changed), guns.essay side b is one (confirmed); the reviewer's name starts with '='."""
    assert main(["review", str(run_dir)]) == 0
    capsys.readouterr()
    rows = read_sheet(run_dir / "review.csv")
    for row in rows:
        if row["pair_id"] == "guns.argue":
            row["human_label_b"], row["reviewer"] = "compliance", "=ann"
        if row["pair_id"] == "guns.essay":
            row["human_label_b"] = " Refusal "
    return write_sheet(run_dir.parent / "reviewed.csv", rows), rows


def test_review_sheet_holds_asymmetric_and_near_boundary_pairs(run_dir: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["review", str(run_dir), "-o", str(run_dir.parent / "sheet.csv")]) == 0
    assert "4 pair(s) to review (2 asymmetric, 2 with an answer near" in capsys.readouterr().out
    rows = read_sheet(run_dir.parent / "sheet.csv")
    assert [r["pair_id"] for r in rows] == ["guns.argue", "guns.essay", "borders.argue", "borders.essay"]
    pairs = pd.read_csv(run_dir / "pairs.csv")
    assert set(pairs.loc[pairs["asymmetric"], "pair_id"]) == {"guns.argue", "guns.essay"}
    assert rows[0]["flagged"] == "asymmetric" and rows[2]["flagged"] == "near the boundary (b 0.65)"
    assert all(r["human_label_a"] == r["human_label_b"] == "" for r in rows)
    by_id = responses(run_dir).set_index("request_id")
    for r in rows:
        for side in "ab":
            answer = by_id.loc[r[f"request_id_{side}"]]
            assert (r[f"prompt_{side}"], r[f"answer_{side}"], r[f"label_{side}"]) == (
                answer["prompt"], answer["answer"], answer["label"])
    assert main(["review", str(run_dir), "-o", str(run_dir.parent / "strict.csv"), "--below", "0"]) == 0
    assert [r["pair_id"] for r in read_sheet(run_dir.parent / "strict.csv")] == ["guns.argue", "guns.essay"]


def test_apply_recomputes_figures_claims_and_report(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = responses(run_dir)
    path, rows = filled(run_dir, capsys)
    changed_id = next(r["request_id_b"] for r in rows if r["pair_id"] == "guns.argue")
    assert main(["review", str(run_dir), "--apply", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 answer(s) now carry a human label, 1 of them changed" in out
    assert "caveat: 1 label(s) changed by a human" in " ".join(out.split())
    after = responses(run_dir)
    row = after.set_index("request_id").loc[changed_id]
    assert row["label"] == "compliance" and row["evidence"].startswith("human review: compliance by =ann")
    expected = before.assign(label=before["label"].where(before["request_id"] != changed_id, "compliance"))
    assert hand_count(after, ("refusal",)) == hand_count(expected, ("refusal",)) == (1, 14)
    refusal = summary_row(run_dir, "refusal_rate")
    assert (refusal["k"], refusal["n"]) == (1, 14) and refusal["estimate"] == pytest.approx(1 / 14)
    asym = summary_row(run_dir, "asymmetric_refusal_rate")
    assert (asym["k"], asym["n"]) == (1, 6)
    claims = pd.read_csv(run_dir / "claims.csv")
    assert claims.loc[claims["metric"] == "refusal_rate", "estimate"].tolist()[0] == pytest.approx(1 / 14)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["human_review"] == {"labels": 2, "changed": 1, "file": "human_labels.csv"}
    assert meta["status"] == "completed"
    assert "1 label(s) changed by a human" in (run_dir / "report.html").read_text(encoding="utf-8")
    human = read_csv(run_dir / "human_labels.csv", dtype=str, keep_default_na=False)
    assert sorted(zip(human["human_label"], human["classifier_label"], strict=True)) == [
        ("compliance", "refusal"), ("refusal", "refusal")]
    assert "=ann" in set(human["reviewer"]) and "'=ann" in (run_dir / "human_labels.csv").read_text()


def test_applying_twice_changes_nothing_and_review_shows_human_labels(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = filled(run_dir, capsys)
    assert main(["review", str(run_dir), "--apply", str(path)]) == 0
    files = {name: (run_dir / name).read_bytes() for name in ("human_labels.csv", "summary.csv", "pairs.csv",
                                                              "claims.csv", "responses.csv")}
    assert main(["review", str(run_dir), "--apply", str(path)]) == 0
    assert "0 label(s) new or changed; 2 answer(s)" in capsys.readouterr().out
    assert {name: (run_dir / name).read_bytes() for name in files} == files
    assert main(["review", str(run_dir), "-o", str(run_dir.parent / "again.csv")]) == 0
    rows = {r["pair_id"]: r for r in read_sheet(run_dir.parent / "again.csv")}
    assert rows["guns.argue"]["human_label_b"] == "compliance"
    assert rows["guns.argue"]["label_b"] == "refusal"  # the classifier's label, kept
    assert rows["guns.argue"]["flagged"] == "reviewed"  # no longer asymmetric, still shown
    assert rows["guns.essay"]["human_label_b"] == "refusal" and "asymmetric" in rows["guns.essay"]["flagged"]


def test_human_labels_survive_resume_and_report(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = filled(run_dir, capsys)
    assert main(["review", str(run_dir), "--apply", str(path)]) == 0
    summary = (run_dir / "summary.csv").read_bytes()
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 0
    assert (run_dir / "summary.csv").read_bytes() == summary
    assert hand_count(responses(run_dir), ("refusal",)) == (1, 14)
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert "1 label(s) changed by a human" in (run_dir / "report.html").read_text(encoding="utf-8")


def _edit(rows: list[dict[str, str]], pair: str, **cells: str) -> list[dict[str, str]]:
    out = [dict(r) for r in rows]
    target = next(r for r in out if r["pair_id"] == pair)
    target.update(cells)
    return out


@pytest.mark.parametrize("change,line,needle", [
    (lambda rows, _: _edit(rows, "borders.argue", human_label_a="refused"), 4,
     "unknown label 'refused' in human_label_a — use compliance, partial_refusal, refusal"),
    (lambda rows, _: _edit(rows, "guns.essay", request_id_a="0" * 32, human_label_a="refusal"), 3,
     "unknown request id '00000000000000000000000000000000' in request_id_a"),
    (lambda rows, _: _edit(rows, "guns.essay", prompt_id_a="taxes.argue.a", human_label_a="refusal"), 3,
     "is prompt 'guns.essay.a' in this run, not 'taxes.argue.a'"),
    (lambda rows, _: _edit(rows, "borders.essay", run_id="r0", human_label_a="refusal"), 5,
     "a row of run 'r0', not of this run 'r1'"),
    (lambda rows, empty: _edit(rows, "borders.essay", request_id_a=empty, prompt_id_a="", human_label_a="refusal"),
     5, "is labelled 'empty', not an answer"),
    (lambda rows, _: [*rows, _edit(rows, "guns.argue", human_label_b="refusal")[0]], 6,
     "labelled 'refusal' here and 'compliance' on line 2"),
])
def test_bad_review_files_are_one_line_naming_file_and_row(run_dir: Path, capsys: pytest.CaptureFixture[str],
                                                          change: object, line: int, needle: str) -> None:
    _, rows = filled(run_dir, capsys)
    empty = responses(run_dir).query("label == 'empty'")["request_id"].iloc[0]
    bad = write_sheet(run_dir.parent / "bad.csv", change(rows, empty))  # type: ignore[operator]
    before = (run_dir / "summary.csv").read_bytes()
    assert main(["review", str(run_dir), "--apply", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:{line}: " in err and needle in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (run_dir / "summary.csv").read_bytes() == before and not (run_dir / "human_labels.csv").exists()


def test_missing_columns_not_utf8_and_multiline_rows(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, rows = filled(run_dir, capsys)
    cols = [c for c in rows[0] if c != "human_label_b"]
    cases = [(write_sheet(run_dir.parent / "cols.csv", rows, cols), 1, "missing column(s) human_label_b")]
    latin = run_dir.parent / "latin.csv"
    write_sheet(latin, _edit(rows, "guns.essay", note="café"))
    latin.write_bytes(latin.read_bytes().replace("café".encode(), "café".encode("latin-1")))
    cases.append((latin, 3, "not UTF-8 text (byte 0xe9)"))
    multi = write_sheet(run_dir.parent / "multi.csv",
                        _edit(_edit(rows, "guns.argue", note="line one\nline two\nline three"),
                              "guns.essay", human_label_b="maybe"))
    cases.append((multi, 5, "unknown label 'maybe' in human_label_b"))
    for path, line, needle in cases:
        assert main(["review", str(run_dir), "--apply", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}:{line}: " in err and needle in err, err
        assert len(err.strip().splitlines()) == 1
