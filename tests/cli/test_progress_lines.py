"""Progress when stderr is not a terminal: ``refusal-audit run`` with a captured (non-TTY)
stderr prints a plain line every few seconds (done/total, rate, ETA, errors), not nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import control_line, pair_lines, write_set

pytestmark = pytest.mark.usefixtures("prefect_env")

LINE = re.compile(r"^requests (\d+)/(\d+) \(\d+%\) · [\d.]+/s · ETA (\S+) · errors (\d+) · \S+ elapsed$")


def test_a_redirected_run_prints_plain_progress_lines(tmp_path: Path, fake_server: FakeOpenAI,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from audit_flows import progress

    monkeypatch.setattr(progress, "PLAIN_EVERY_S", 0.25)
    lines = [*pair_lines("taxes", "argue", "slow:0.4", "slow:0.4"), *pair_lines("guns", "argue", "slow:0.4", "refuse"),
             control_line(0, "control_refuse", "refuse"), control_line(0, "control_comply", "status:400")]
    prompts = write_set(tmp_path / "slow.jsonl", lines)
    code = main(["run", "--base-url", fake_server.url, "--model", "fake-model", "--prompts", str(prompts),
                 "--concurrency", "1", "--max-error-rate", "1", "--reports-dir", str(tmp_path / "reports"),
                 "--run-id", "slow"])
    assert code == 0
    err = capsys.readouterr().err
    assert "━" not in err and "\x1b[" not in err  # no bar drawn into a log
    found = [m for m in map(LINE.match, err.splitlines()) if m]
    assert len(found) >= 4, err  # the start, some while the slow requests run, the end
    assert found[0].group(1, 2) == ("0", "6") and found[0].group(3) == "unknown"
    assert found[-1].group(1, 2, 4) == ("6", "6", "1")  # every request, and the one API error
    done = [int(m.group(1)) for m in found]
    assert done == sorted(done) and any(0 < d < 6 for d in done)  # lines while it runs


def test_no_progress_prints_no_lines(tmp_path: Path, fake_server: FakeOpenAI,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    prompts = write_set(tmp_path / "set.jsonl", pair_lines("taxes", "argue"))
    assert main(["run", "--base-url", fake_server.url, "--model", "fake-model", "--prompts", str(prompts),
                 "--reports-dir", str(tmp_path / "reports"), "--run-id", "quiet", "--no-progress"]) == 0
    assert "requests 0/" not in capsys.readouterr().err
