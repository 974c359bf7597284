"""The example config and the flow files' own command lines: user mistakes are one line, exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from audit.config import (
    AuditConfig,
    JudgeSettings,
    StanceSettings,
    Target,
    build_config,
    load_config,
    read_toml,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "audit.example.toml"


def test_the_example_config_loads_and_mentions_every_setting() -> None:
    config = load_config(EXAMPLE, {}, {})
    assert config.targets[0].label == "local" and config.thresholds == {"max_refusal_rate": 0.02,
                                                                       "max_asymmetric_rate": 0.01}
    text = EXAMPLE.read_text()
    keys = set(re.findall(r"^#?\s*(\w+)\s*=", text, flags=re.MULTILINE))
    for model in (AuditConfig, Target, JudgeSettings, StanceSettings):
        missing = set(model.model_fields) - keys - {"targets", "judge", "thresholds", "stance"}
        assert not missing, f"audit.example.toml does not mention {sorted(missing)} of {model.__name__}"


def test_the_commented_judge_table_is_valid_when_uncommented() -> None:
    text = EXAMPLE.read_text()
    judge = re.search(r"^# \[judge\].*?(?=^\[|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert judge is not None
    uncommented = "\n".join(line.removeprefix("# ") for line in judge.group(0).splitlines())
    import tomllib

    data = {**read_toml(EXAMPLE), **tomllib.loads(uncommented), "classifier": "ensemble"}
    assert build_config(data).judge is not None


def flow_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("args", [[], ["a.toml", "b.toml"]])
def test_the_flow_file_without_a_config_prints_its_usage(args: list[str]) -> None:
    out = flow_cli("flows/audit_flow.py", *args)
    assert out.returncode == 2 and out.stderr.startswith("usage: python flows/audit_flow.py CONFIG.toml")
    assert "Traceback" not in out.stderr


def test_the_flow_file_help() -> None:
    out = flow_cli("flows/audit_flow.py", "--help")
    assert out.returncode == 0 and "usage:" in out.stdout


def test_a_bad_config_given_to_the_flow_files_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('prompts = "x.jsonl"\n[[targets]]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\nconcurency = 2\n')
    for args in (["flows/audit_flow.py", str(bad)], ["-m", "flows.sharding", str(bad), "--shards", "2"]):
        out = flow_cli(*args)
        assert out.returncode == 2, out.stderr
        assert "Traceback" not in out.stderr
        assert out.stderr.strip().splitlines() == [(f"error: {bad}: unknown key 'targets.0.concurency' — check its "
                                                   "spelling (see README, 'Configuration')")]


def test_sharding_rejects_zero_shards_before_starting_prefect() -> None:
    out = flow_cli("-m", "flows.sharding", "audit.example.toml", "--shards", "0")
    assert out.returncode == 2 and "--shards must be 1 or more" in out.stderr and "Traceback" not in out.stderr
