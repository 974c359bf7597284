"""``refusal-audit schedule`` and the deployments: objects and schedules, checked without waiting
and without a Prefect server; ``prefect.yaml`` checked against the flows it names."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from audit.cli import _schedule as cli_schedule
from audit.config import load_config
from audit.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, names: tuple[str, ...] = ("Nightly GPT",)) -> Path:
    targets = "".join(f'[[targets]]\nname = "{n}"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
                      f'api_key_env = "MY_PROVIDER_KEY"\n' for n in names)
    cfg = tmp_path / "audit.toml"
    cfg.write_text(f'prompts = "prompts/contested-v1.jsonl"\nreports_dir = "out"\n{targets}')
    return cfg


def cli() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _main() -> None:
        """refusal-audit (test app)."""

    cli_schedule.register(app)
    return app


def test_cron_deployment_has_its_schedule_and_an_absolute_configuration(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from audit_flows.deployments import build_deployment, describe_schedule, next_runs

    monkeypatch.chdir(tmp_path)
    config = load_config(write_config(tmp_path), {}, {})
    dep = build_deployment(config, "weekly", cron="0 3 * * 1", timezone="Europe/Berlin")
    assert dep.name == "weekly" and dep.entrypoint == "audit_flows.audit_flow.audit_flow"
    assert dep.concurrency_limit == 1 and "refusal-audit" in dep.tags
    (sched,) = [s.schedule for s in dep.schedules]
    assert (sched.cron, sched.timezone) == ("0 3 * * 1", "Europe/Berlin")
    assert describe_schedule(sched) == "cron 0 3 * * 1 (Europe/Berlin)"
    runs = next_runs(sched, 3)
    assert [r.weekday() for r in runs] == [0, 0, 0] and runs[1] - runs[0] == dt.timedelta(days=7)
    assert all((r.hour, r.minute) == (3, 0) for r in runs)
    cfg = dep.parameters["config"]
    assert cfg["prompts"] == str(tmp_path / "prompts" / "contested-v1.jsonl")
    assert cfg["reports_dir"] == str(tmp_path / "out") and dep.parameters["check_drift"] is True
    assert cfg["targets"][0]["api_key_env"] == "MY_PROVIDER_KEY"  # the variable's name, never a key


def test_interval_deployment(tmp_path: Path) -> None:
    from audit_flows.deployments import build_deployment, next_runs

    config = load_config(write_config(tmp_path), {}, {})
    dep = build_deployment(config, "hourly", interval=3600, concurrency_limit="provider-x")
    sched = dep.schedules[0].schedule
    assert sched.interval == dt.timedelta(hours=1) and dep.parameters["concurrency_limit"] == "provider-x"
    first, second = next_runs(sched, 2)
    assert second - first == dt.timedelta(hours=1)


@pytest.mark.parametrize("kwargs,needle", [
    ({}, "exactly one of --cron"),
    ({"cron": "0 3 * * 1", "interval": 60}, "exactly one of --cron"),
    ({"cron": "every monday"}, "invalid schedule"),
    ({"cron": "0 3 * * 1", "timezone": "Mars/Olympus"}, "invalid schedule"),
    ({"interval": -5}, "positive number of seconds"),
])
def test_bad_schedules_are_config_errors(tmp_path: Path, kwargs: dict[str, Any], needle: str) -> None:
    from audit_flows.deployments import build_deployment

    config = load_config(write_config(tmp_path), {}, {})
    with pytest.raises(ConfigError, match=needle):
        build_deployment(config, "x", **kwargs)


def test_schedule_check_shows_the_deployment_and_next_runs(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["schedule", str(write_config(tmp_path, ("a", "b"))),
                                        "--cron", "0 3 * * 1", "--check"])
    assert result.exit_code == 0, result.output
    assert "deployment refusal-audit/audit-a-b: cron 0 3 * * 1 (UTC)" in result.output
    assert result.output.count("03:00") == 3 and "targets: a, b" in result.output


def test_schedule_serves_the_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect

    import audit_flows.deployments as dp

    served: list[Any] = []
    monkeypatch.setattr(dp, "api_url", lambda: "http://127.0.0.1:4200/api")
    monkeypatch.setattr(prefect, "serve", lambda *deps: served.extend(deps))
    result = CliRunner().invoke(cli(), ["schedule", str(write_config(tmp_path)), "--interval", "600",
                                        "--name", "every-10-min", "--no-drift"])
    assert result.exit_code == 0, result.output
    (dep,) = served
    assert dep.name == "every-10-min" and dep.parameters["check_drift"] is False
    assert dep.schedules[0].schedule.interval == dt.timedelta(minutes=10)


def test_schedule_without_a_prefect_server_says_how_to_start_one(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import audit_flows.deployments as dp

    monkeypatch.setattr(dp, "api_url", lambda: None)
    result = CliRunner().invoke(cli(), ["schedule", str(write_config(tmp_path)), "--cron", "0 3 * * *"])
    assert isinstance(result.exception, ConfigError) and "prefect server start" in str(result.exception)


def test_prefect_yaml_deployments_name_real_flows_parameters_and_schedules() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert {"nightly", "weekly", "shard"} <= set(deployments)
    for d in deployments.values():
        path, func = d["entrypoint"].split(":")
        assert (ROOT / path).is_file()
        flow_obj = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), func)
        accepted = set(inspect.signature(flow_obj.fn).parameters)
        assert set(d.get("parameters") or {}) <= accepted, d["name"]
        assert d["work_pool"]["name"] == "audit-pool"
        for s in d.get("schedules") or []:
            CronSchedule(cron=s["cron"], timezone=s["timezone"])  # valid, or this raises
        if "config" in (d.get("parameters") or {}):
            from audit.config import AuditConfig
            assert set(d["parameters"]["config"]) <= set(AuditConfig.model_fields)
    assert deployments["nightly"]["schedules"][0]["cron"] == "0 2 * * *"
    assert deployments["weekly"]["schedules"][0]["cron"] == "0 3 * * 1"
    assert "schedules" not in deployments["shard"]
    params = [k for d in deployments.values() for k in (d.get("parameters") or {})]
    assert not [k for k in params if "key" in k.lower() or "secret" in k.lower()]
