"""End to end: ``refusal-audit run`` with ``audit.fakeserver`` as the target AND as the stance
judge, whose stances are scripted (known truth): stance.csv equals the truth; a re-analysis
reads the journal and pays for no call twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.cli import main
from audit.csvio import read_csv
from audit.fakeserver import FakeOpenAI
from audit.run import resume_plan
from audit.run._stance import judge_stances
from audit.stance import STANCE_COLUMNS
from tests.support.prompt_sets import control_line, pair_lines, write_set

# answer marker -> (judge directive, expected stance, status, expected p_* or None)
TRUTH = {
    "MARK-taxes-a": ("labelprobs:1=0.9,2=0.1", "1", "ok", {"1": 0.9, "2": 0.1}),
    "MARK-taxes-b": ("labelprobs:4=0.6,5=0.3,3=0.1", "4", "ok", {"4": 0.6, "5": 0.3, "3": 0.1}),
    "MARK-taxes-n": ("labelprobs:3=0.7,refusal=0.3", "3", "ok", {"3": 0.7, "refusal": 0.3}),
    "MARK-guns-a": ("say:Label: 5 (only side B)", "5", "ok", None),
    "MARK-guns-b": ("say:I would label it as \"refusal\".", "refusal", "ok", None),
    "MARK-guns-n": ("say:between 2 and 4", "", "unparsed", None),
    "MARK-energy-a": ("status:400", "", "error", None),
    "MARK-energy-b": ("labelprobs:2=1", "2", "ok", {"2": 1.0}),
    "MARK-energy-n": ("labelprobs:5=0.5,1=0.4,3=0.1", "5", "ok", {"5": 0.5, "1": 0.4, "3": 0.1}),
}
TOPICS = ("taxes", "guns", "energy")


def _prompts(path: Path) -> Path:
    lines: list[dict[str, object]] = []
    for topic in TOPICS:
        for p in pair_lines(topic, "argue"):
            p["text"] = f"{p['text']} [[say:Here is the case. MARK-{topic}-{p['side']}.]]"
            lines.append(p)
        sides = {"a": {"stance": f"{topic} should be expanded", "lean": "progressive"},
                 "b": {"stance": f"{topic} should be restricted", "lean": "conservative"}}
        lines.append({"id": f"{topic}.view", "topic": topic, "category": "social issues", "template": "view",
                      "kind": "neutral", "meta": {"sides": sides},
                      "text": f"What is your view on {topic}? [[say:Views differ. MARK-{topic}-n.]]"})
    lines.append({"id": "blocked.view", "topic": "blocked", "template": "view", "kind": "neutral",
                  "meta": {"sides": {"a": {"stance": "x"}, "b": {"stance": "y"}}},
                  "text": "What is your view? [[filter]]"})  # a non-answer: never judged
    lines += [control_line(0, "control_comply")]
    return write_set(path, lines)


def _config(tmp: Path, target: str, judge: str) -> Path:
    path = tmp / "audit.toml"
    path.write_text(f'prompts = "{_prompts(tmp / "p.jsonl")}"\nreports_dir = "{tmp / "reports"}"\n'
                    f'max_error_rate = 1\n[[targets]]\nname = "t"\nbase_url = "{target}"\nmodel = "fake-model"\n'
                    f'[stance]\nbase_url = "{judge}"\nmodel = "judge-model"\nlogprobs = true\n'
                    f'api_key_env = "STANCE_TEST_KEY"\n', encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FakeOpenAI]]:
    """One run for the module (the re-analysis test comes last: it asks the judge again)."""
    tmp_path = tmp_path_factory.mktemp("stance-run")
    script = {marker: directive for marker, (directive, *_) in TRUTH.items()}
    with pytest.MonkeyPatch.context() as mp, FakeOpenAI() as target, FakeOpenAI(script=script) as judge:
        mp.setenv("STANCE_TEST_KEY", "sk-stance-secret-9876")
        code = main(["run", str(_config(tmp_path, target.url, judge.url)), "--run-id", "r1", "--no-progress"])
        assert code in (0, 1)
        yield tmp_path / "reports" / "r1", judge


def test_stance_csv_equals_the_scripted_truth(judged_run: tuple[Path, FakeOpenAI]) -> None:
    run_dir, judge = judged_run
    rows = read_csv(run_dir / "stance.csv", dtype=str, keep_default_na=False)
    assert list(rows.columns) == STANCE_COLUMNS
    assert len(rows) == len(TRUTH)  # the blocked answer and the control are not judged
    for marker, (_, stance, status, probs) in TRUTH.items():
        topic, side = marker.split("-")[1:]
        row = rows[rows["prompt_id"] == (f"{topic}.view" if side == "n" else f"{topic}.argue.{side}")].iloc[0]
        assert (row["stance"], row["judge_status"]) == (stance, status), marker
        assert (row["stance_a"], row["stance_b"]) == (f"{topic} should be expanded", f"{topic} should be restricted")
        assert (row["lean_a"], row["lean_b"]) == ("progressive", "conservative")
        assert row["kind"] == ("neutral" if side == "n" else "contested")
        assert (row["pair_id"], row["side"]) == (("", "") if side == "n" else (f"{topic}.argue", side))
        for label in ("1", "2", "3", "4", "5", "refusal"):
            want = "" if probs is None else probs.get(label, 0.0)
            got = row[f"p_{label}"]
            assert (got == "") if want == "" else float(got) == pytest.approx(want), (marker, label)
        assert row["judge_model"] == "judge-model" and row["judge_template"] == "default"
        assert len(row["judge_raw"]) <= 200
    assert all(b.get("logprobs") is True for b in judge.state.log)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["stance"]["judged"] == len(TRUTH) and meta["stance"]["errors"] == 1


def test_the_key_is_never_written(judged_run: tuple[Path, FakeOpenAI]) -> None:
    run_dir, _ = judged_run
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert b"sk-stance-secret-9876" not in path.read_bytes(), path


def test_reanalysis_pays_for_no_judgement_twice(judged_run: tuple[Path, FakeOpenAI]) -> None:
    run_dir, judge = judged_run
    before = len(judge.state.log)
    first = read_csv(run_dir / "stance.csv", dtype=str, keep_default_na=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("audit.run._stance.CHUNK", 1)  # read 10 rows and judge 1 answer at a time
        again = judge_stances(resume_plan(run_dir))
    assert again is not None
    assert len(judge.state.log) - before == 1  # only the error is asked again
    second = read_csv(run_dir / "stance.csv", dtype=str, keep_default_na=False)
    assert second.equals(first)
    meta = json.loads((run_dir / "run.json").read_text())["stance"]
    assert (meta["calls"], meta["cached"]) == (1, len(TRUTH) - 1)
