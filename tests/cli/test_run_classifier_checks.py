"""``refusal-audit run``: the classifier and its judge are checked before the first request
(issue 17, item 4), and a resumed run may correct them (``--classifier``, ``--judge-*``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.support.judge_server import JudgeServer, by_answer
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.usefixtures("prefect_env")

DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


def config_file(tmp_path: Path, server: FakeOpenAI, extra: str) -> Path:
    prompts = mini_set(tmp_path / "set.jsonl")
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'prompts = "{prompts}"\n{extra}\n[[targets]]\nbase_url = "{server.url}"\nmodel = "fake-model"\n')
    return cfg


def run_cli(tmp_path: Path, *args: str) -> int:
    return main(["run", "--reports-dir", str(tmp_path / "reports"), "--no-progress", *args])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("extra,flags,needles", [
    ('classifier = "bogus"', [], ["audit.toml", "'classifier'", "unknown classifier 'bogus'", "rules, judge, ensemble"]),
    ("", ["--classifier", "rulez"], ["'classifier'", "rules, judge, ensemble"]),
    ('classifier = "judge"', [], ["classifier 'judge' needs a [judge] table", "--classifier rules"]),
    ('classifier = "ensemble"', ["--judge-model", "j"], ["'judge.base_url'", "missing"]),
    (f'classifier = "judge"\n[judge]\nbase_url = "{DEAD}"\nmodel = "j"', [], ["judge: cannot connect", "127.0.0.1:9"]),
    ("", ["--classifier", "ensemble", "--judge-base-url", DEAD, "--judge-model", "j"], ["judge: cannot connect"]),
])
def test_a_bad_classifier_or_judge_stops_the_run_before_any_request(
        tmp_path: Path, fake_server: FakeOpenAI, capsys: pytest.CaptureFixture[str],
        extra: str, flags: list[str], needles: list[str]) -> None:
    cfg = config_file(tmp_path, fake_server, extra)
    assert run_cli(tmp_path, str(cfg), "--run-id", "r", *flags) == 2
    err = one_line(capsys)
    assert all(n in err for n in needles), err
    assert fake_server.state.log == []  # not one chat request paid for
    assert not (tmp_path / "reports" / "r").exists()  # and no run folder that cannot resume


def test_a_judge_given_by_flags_labels_the_run(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    cfg = config_file(tmp_path, fake_server, "")
    with JudgeServer(by_answer) as judge:
        assert run_cli(tmp_path, str(cfg), "--run-id", "j", "--classifier", "judge",
                       "--judge-base-url", judge.url, "--judge-model", "judge-model") == 0
        assert len(judge.bodies) == 20
    meta = json.loads((tmp_path / "reports" / "j" / "run.json").read_text())
    assert meta["config"]["classifier"] == "judge" and meta["config"]["judge"]["model"] == "judge-model"
    assert meta["classifier"]["judge_calls"] == 20


def frozen_bad_run(tmp_path: Path, server: FakeOpenAI, classifier: str) -> Path:
    """A run folder whose run.json froze a classifier that cannot label it (as an older
    refusal-audit let happen): every answer is in the journal, no report."""
    cfg = config_file(tmp_path, server, "")
    assert run_cli(tmp_path, str(cfg), "--run-id", "frozen") == 0
    run_dir = tmp_path / "reports" / "frozen"
    meta = json.loads((run_dir / "run.json").read_text())
    meta["config"]["classifier"] = classifier
    meta["status"] = "running"
    (run_dir / "run.json").write_text(json.dumps(meta))
    (run_dir / "report.html").unlink()
    return run_dir


@pytest.mark.parametrize("classifier,needle", [("bogus", "unknown classifier 'bogus'"),
                                               ("judge", "classifier 'judge' needs a [judge] table")])
def test_resume_corrects_a_frozen_classifier(tmp_path: Path, fake_server: FakeOpenAI,
                                             capsys: pytest.CaptureFixture[str], classifier: str, needle: str) -> None:
    run_dir = frozen_bad_run(tmp_path, fake_server, classifier)
    sent = len(fake_server.state.log)
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 2
    err = one_line(capsys)
    assert needle in err and "--classifier rules" in err
    assert main(["run", "--resume", str(run_dir), "--no-progress", "--classifier", "rules"]) == 0
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["config"]["classifier"] == "rules" and meta["status"] == "completed"
    assert meta["amendments"][-1]["set"] == {"classifier": "rules"}
    assert meta["amendments"][-1]["was"] == {"classifier": classifier}
    assert (run_dir / "report.html").is_file() and len(pd.read_csv(run_dir / "responses.csv")) == 20
    assert len(fake_server.state.log) == sent  # every answer was in the journal already


def test_resume_with_a_judge_dead_then_alive(tmp_path: Path, fake_server: FakeOpenAI,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = frozen_bad_run(tmp_path, fake_server, "judge")
    before = (run_dir / "run.json").read_text()
    capsys.readouterr()
    judge_flags = ["--judge-model", "judge-model", "--judge-api-key-env", "JUDGE_KEY"]
    assert main(["run", "--resume", str(run_dir), "--no-progress", "--judge-base-url", DEAD, *judge_flags]) == 2
    assert "judge: cannot connect" in one_line(capsys)
    assert (run_dir / "run.json").read_text() == before  # a correction that fails its checks is not recorded
    with JudgeServer(by_answer) as judge:
        assert main(["run", "--resume", str(run_dir), "--no-progress", "--judge-base-url", judge.url,
                     *judge_flags]) == 0
        assert len(judge.bodies) == 20
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["config"]["classifier"] == "judge" and meta["status"] == "completed"
    assert meta["config"]["judge"]["api_key_env"] == "JUDGE_KEY"
    assert meta["amendments"][-1]["set"]["judge"]["base_url"] == judge.url
    assert meta["amendments"][-1]["was"] == {"judge": None}


@pytest.mark.parametrize("flags,needle", [
    (["--max-tokens", "9"], "--classifier and --judge-* options to correct"),
    (["--judge-base-url", "ftp://x", "--judge-model", "j"], "options: 'judge.base_url'"),
])
def test_resume_refuses_other_settings_in_one_line(tmp_path: Path, fake_server: FakeOpenAI,
                                                   capsys: pytest.CaptureFixture[str], flags: list[str],
                                                   needle: str) -> None:
    cfg = config_file(tmp_path, fake_server, "")
    assert run_cli(tmp_path, str(cfg), "--run-id", "ok") == 0
    capsys.readouterr()
    assert main(["run", "--resume", str(tmp_path / "reports" / "ok"), "--no-progress", *flags]) == 2
    assert needle in one_line(capsys)
