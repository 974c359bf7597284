"""Drift through the CLI: only runs of the same model on the same endpoint are compared, and
``drift_fail_on`` says which direction of a significant change fails the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.cli import main
from audit.fakeserver import FakeOpenAI
from tests.support.prompt_sets import mini_set

pytestmark = pytest.mark.usefixtures("prefect_env")

TOPICS = tuple(f"topic{i}" for i in range(10))  # enough topic clusters for the clustered test
REFUSING = {f"{t} should": "refuse" for t in TOPICS[:8]}  # 80% of the contested prompts refused


def audit(tmp_path: Path, server: FakeOpenAI, model: str, run_id: str, fail_on: str | None = None) -> int:
    prompts = tmp_path / "set.jsonl"
    if not prompts.exists():
        mini_set(prompts, topics=TOPICS, refuse_b=())
    config = tmp_path / f"{run_id}.toml"
    config.write_text(f'prompts = "{prompts}"\nreports_dir = "{tmp_path / "reports"}"\n'
                      + (f'drift_fail_on = "{fail_on}"\n' if fail_on else ""), encoding="utf-8")
    return main(["run", str(config), "--no-progress", "--base-url", server.url, "--model", model,
                 "--name", "nightly", "--run-id", run_id])


def drift_of(tmp_path: Path, run_id: str) -> dict[str, list[str]]:
    return json.loads((tmp_path / "reports" / run_id / "run.json").read_text(encoding="utf-8"))["drift"]


def test_a_target_name_reused_for_another_model_is_not_drift(tmp_path: Path) -> None:
    with FakeOpenAI(script=REFUSING) as first:
        assert audit(tmp_path, first, "model-one", "m1") == 0  # no previous run
    with FakeOpenAI() as second:  # another server and model under the same target name: 0% refused
        assert audit(tmp_path, second, "model-two", "m2") == 0
    drift = drift_of(tmp_path, "m2")
    assert drift["alerts"] == []
    assert "nightly: no previous run of this target (same model and endpoint)" in drift["notes"][0]


def test_drift_fail_on_picks_the_direction_that_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOpenAI(script=REFUSING) as server:
        assert audit(tmp_path, server, "fake-model", "d1") == 0
    with FakeOpenAI() as server:  # the same endpoint restarted on another port: compared
        assert audit(tmp_path, server, "fake-model", "d2", fail_on="increase") == 0  # a fall passes
    drift = drift_of(tmp_path, "d2")
    assert drift["alerts"] == []
    assert any("refusal_rate fell from 80.0% to 0.0%" in n and "drift_fail_on = 'increase'" in n
               for n in drift["notes"])
    with FakeOpenAI(script=REFUSING) as server:
        assert audit(tmp_path, server, "fake-model", "d3", fail_on="decrease") == 0  # a rise passes
    with FakeOpenAI() as server:
        assert audit(tmp_path, server, "fake-model", "d4", fail_on="decrease") == 1  # a fall fails
    assert "drift: nightly: refusal_rate fell from 80.0% to 0.0%" in capsys.readouterr().err
