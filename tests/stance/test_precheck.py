"""``refusal-audit run`` checks the ``[stance]`` judge before the first target request (its
stage runs after the last): a bad template (id, file, line), calibration file, unset key
variable, dead endpoint, unlisted model or refused key exits 2 with one line naming the
``[stance]`` option or the file, never the key, with not one request sent to the target — on a
new run and on ``--resume`` (settings from run.json)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.cli import main
from audit.config import load_config
from audit.errors import ConfigError
from audit.fakeserver import FakeOpenAI
from audit.run import run_audit
from audit.send._journal import JOURNAL_NAME
from tests.support.prompt_sets import mini_set

DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
KEY = "sk-stance-precheck-secret-4242"
TEMPLATES = 'id,eval_template,note\nmine,"Judge: {response_text}",ok\nbroken,"Judge: no answer here",bad\n'


def _config(tmp: Path, target: str, stance: str) -> Path:
    prompts = mini_set(tmp / "set.jsonl")
    cfg = tmp / "audit.toml"
    cfg.write_text(f'prompts = "{prompts}"\nreports_dir = "{tmp / "reports"}"\n[[targets]]\nname = "t"\n'
                   f'base_url = "{target}"\nmodel = "fake-model"\n[stance]\n{stance}\n', encoding="utf-8")
    return cfg


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def judge() -> Iterator[FakeOpenAI]:
    """A stance judge that serves only ``judge-model`` and wants the key ``KEY``."""
    with FakeOpenAI(models=["judge-model", "judge-large"], api_key=KEY) as server:
        yield server


def _stance(judge_url: str, **extra: str) -> str:
    settings = {"base_url": judge_url, "model": "judge-model", "api_key_env": "STANCE_PRECHECK_KEY", **extra}
    return "\n".join(f'{k} = "{v}"' for k, v in settings.items())


def _cases(tmp: Path) -> list[tuple[dict[str, str], list[str]]]:
    (tmp / "templates.csv").write_text(TEMPLATES, encoding="utf-8")
    (tmp / "bad-calibration.json").write_text("[1, 2]", encoding="utf-8")
    return [
        ({"template": "nope"}, ["[stance] template = 'nope'", "no built-in template", "template_file"]),
        ({"template": "nope", "template_file": f"{tmp / 'templates.csv'}"},
         ["templates.csv", "no template with id 'nope'", "mine, broken"]),
        ({"template": "broken", "template_file": f"{tmp / 'templates.csv'}"},
         ["templates.csv:3", "no {response_text} placeholder"]),
        ({"template": "mine", "template_file": f"{tmp / 'missing.csv'}"}, ["missing.csv", "no such template file",
                                                                          "template_file in [stance]"]),
        ({"calibration": f"{tmp / 'missing.json'}"}, ["missing.json", "calibration", "stance evaluate"]),
        ({"calibration": f"{tmp / 'bad-calibration.json'}"}, ["bad-calibration.json", "not a JSON object"]),
        ({"api_key_env": "STANCE_UNSET_KEY"}, ["[stance] api_key_env", "STANCE_UNSET_KEY is not set"]),
        ({"base_url": DEAD}, ["[stance] base_url", "cannot connect", "127.0.0.1:9"]),
        ({"model": "judge-mini"}, ["[stance] model", "'judge-mini'", "judge-model, judge-large",
                                   "set [stance] model to one of them"]),
        ({"api_key_env": "OPENAI_API_KEY"}, ["[stance] api_key_env", "HTTP 401",
                                             "OPENAI_API_KEY is not set or empty"]),
        ({"api_key_env": "STANCE_WRONG_KEY"}, ["[stance] api_key_env", "HTTP 401",
                                               "check the key in the environment variable STANCE_WRONG_KEY"]),
    ]


@pytest.mark.parametrize("case", range(11))
def test_a_bad_stance_setup_stops_the_run_before_any_request(
        tmp_path: Path, fake_server: FakeOpenAI, judge: FakeOpenAI, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, case: int) -> None:
    extra, needles = _cases(tmp_path)[case]
    monkeypatch.setenv("STANCE_PRECHECK_KEY", KEY)
    monkeypatch.setenv("STANCE_WRONG_KEY", "sk-wrong-" + KEY)
    monkeypatch.delenv("STANCE_UNSET_KEY", raising=False)
    cfg = _config(tmp_path, fake_server.url, _stance(judge.url, **extra))
    assert main(["run", str(cfg), "--run-id", "r", "--no-progress"]) == 2
    err = _one_line(capsys)
    assert all(n in err for n in needles), err
    assert KEY not in err  # neither the key nor the wrong key (which holds it)
    assert fake_server.state.log == [] and judge.state.log == []  # not one chat request paid for
    assert not (tmp_path / "reports" / "r").exists()


def test_the_cases_above_each_fail_for_their_own_reason(tmp_path: Path) -> None:
    """No two cases share their needles: each checks a different message."""
    needles = [tuple(n) for _, n in _cases(tmp_path)]
    assert len(set(needles)) == len(needles) == 11


def test_a_keyless_judge_runs_with_the_default_variable_unset(
        tmp_path: Path, fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local judge needs no key: OPENAI_API_KEY (the default api_key_env) unset is no error."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAI(models=["judge-model"]) as keyless:
        cfg = _config(tmp_path, fake_server.url, f'base_url = "{keyless.url}"\nmodel = "judge-model"')
        assert main(["run", str(cfg), "--run-id", "ok", "--no-progress"]) in (0, 1)
        assert keyless.state.log  # the stance stage ran
    assert (tmp_path / "reports" / "ok" / "stance.csv").exists()


def test_the_real_command_prints_one_line(tmp_path: Path, fake_server: FakeOpenAI, judge: FakeOpenAI) -> None:
    """The installed ``refusal-audit`` script, in its own process: exit 2, one line on stderr."""
    cfg = _config(tmp_path, fake_server.url, _stance(judge.url, template="nope"))
    script = Path(sys.executable).with_name("refusal-audit")
    env = {"PATH": str(script.parent), "HOME": str(tmp_path), "STANCE_PRECHECK_KEY": KEY}
    out = subprocess.run([str(script), "run", str(cfg), "--run-id", "r", "--no-progress"], capture_output=True,
                         text=True, env=env, timeout=120, check=False)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "[stance] template = 'nope'" in out.stderr, out.stderr
    assert fake_server.state.log == []


def _half_sent_run(tmp_path: Path, server: FakeOpenAI, stance: dict[str, str]) -> Path:
    """A run folder whose journal holds half the answers and whose run.json has ``stance``
    (as a run interrupted while sending, then resumed somewhere its judge is not set up)."""
    cfg = _config(tmp_path, server.url, "")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("[stance]\n", ""), encoding="utf-8")
    assert main(["run", str(cfg), "--run-id", "half", "--no-progress"]) == 0
    run_dir = tmp_path / "reports" / "half"
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    meta["config"]["stance"] = {**stance, "model": "judge-model"}
    meta["status"] = "running"
    (run_dir / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    journal = run_dir / JOURNAL_NAME
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    journal.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    return run_dir


@pytest.mark.parametrize("stance,needles", [
    ({"base_url": DEAD}, ["[stance] base_url", "cannot connect"]),
    ({"base_url": "JUDGE", "api_key_env": "STANCE_UNSET_KEY"}, ["STANCE_UNSET_KEY is not set"]),
    ({"base_url": "JUDGE", "template": "nope"}, ["[stance] template = 'nope'"]),
])
def test_a_resumed_run_checks_its_stance_judge_before_sending(
        tmp_path: Path, fake_server: FakeOpenAI, judge: FakeOpenAI, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, stance: dict[str, str], needles: list[str]) -> None:
    monkeypatch.delenv("STANCE_UNSET_KEY", raising=False)
    stance = {k: judge.url if v == "JUDGE" else v for k, v in stance.items()}
    run_dir = _half_sent_run(tmp_path, fake_server, stance)
    sent = len(fake_server.state.log)
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "--no-progress"]) == 2
    err = _one_line(capsys)
    assert all(n in err for n in needles), err
    assert len(fake_server.state.log) == sent  # the missing half is not sent


def test_the_library_run_checks_the_stance_judge_too(tmp_path: Path, fake_server: FakeOpenAI) -> None:
    """``run_audit`` (no CLI, no precheck) stops before sending as well."""
    cfg = _config(tmp_path, fake_server.url, 'base_url = "http://127.0.0.1:9/v1"\nmodel = "j"\ntemplate = "nope"')
    with pytest.raises(ConfigError, match=r"\[stance\] template = 'nope'"):
        run_audit(load_config(cfg))
    assert fake_server.state.log == []
