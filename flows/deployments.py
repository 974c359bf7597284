"""Deployments of the audit flow: a schedule served by ``refusal-audit schedule`` (``flow.serve``),
and the helpers the CLI and the tests use to build and describe them.

A served deployment runs the flow in subprocesses of the serving process, so the configuration's
paths are made absolute first. The deployment's parameters hold the configuration (never a key:
targets name the environment variable, or the Prefect Secret block, that holds theirs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from audit.config import AuditConfig
from audit.errors import ConfigError

FLOW_NAME = "refusal-audit"
PATH_FIELDS = ("prompts", "reports_dir", "references", "calibration")


def absolute_paths(config: AuditConfig, base: Path | None = None) -> AuditConfig:
    """The configuration with its file paths made absolute (relative to ``base``, default the cwd)."""
    base = (base or Path.cwd()).resolve()
    updates = {f: str((base / v).resolve()) for f in PATH_FIELDS if (v := getattr(config, f, None))}
    return config.model_copy(update=updates)


def make_schedule(cron: str | None, interval: float | None, timezone: str | None) -> Any:
    """A Prefect schedule from ``--cron`` or ``--interval`` (exactly one); errors are ConfigError."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from prefect.schedules import Cron, Interval

    if (cron is None) == (interval is None):
        raise ConfigError("give exactly one of --cron (e.g. \"0 3 * * 1\") and --interval SECONDS")
    try:
        if cron is not None:
            CronSchedule(cron=cron, timezone=timezone or "UTC")
            return Cron(cron, timezone=timezone or "UTC")
        if interval is None or interval <= 0:
            raise ConfigError(f"--interval must be a positive number of seconds, not {interval}")
        IntervalSchedule(interval=dt.timedelta(seconds=interval), timezone=timezone or "UTC")
        return Interval(dt.timedelta(seconds=interval), timezone=timezone or "UTC")
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"invalid schedule: {first['msg'].removeprefix('Value error, ')}") from None


def build_deployment(config: AuditConfig, name: str, *, cron: str | None = None, interval: float | None = None,
                     timezone: str | None = None, check_drift: bool = True,
                     concurrency_limit: str | None = None) -> Any:
    """A ``RunnerDeployment`` of the audit flow on a schedule (no API call: nothing is created yet).

    At most one run of the deployment at a time: a run that outlasts its interval delays the next.
    """
    from prefect.types.entrypoint import EntrypointType

    from audit_flows.audit_flow import audit_flow

    schedule = make_schedule(cron, interval, timezone)
    params: dict[str, Any] = {"config": absolute_paths(config).public_dict(), "check_drift": check_drift}
    if concurrency_limit:
        params["concurrency_limit"] = concurrency_limit
    labels = ", ".join(t.label for t in config.targets)
    # a module entrypoint: the installed package is found from any working directory
    return audit_flow.to_deployment(name=name, schedules=[schedule], parameters=params, concurrency_limit=1,
                                    tags=["refusal-audit"], description=f"Scheduled refusal audit of {labels}",
                                    entrypoint_type=EntrypointType.MODULE_PATH)


def describe_schedule(schedule: Any) -> str:
    """'cron 0 3 * * 1 (UTC)' or 'every 3600 s (UTC)'."""
    if getattr(schedule, "cron", None):
        return f"cron {schedule.cron} ({schedule.timezone})"
    seconds = schedule.interval.total_seconds()
    return f"every {seconds:g} s ({schedule.timezone})"


def next_runs(schedule: Any, n: int = 3) -> list[dt.datetime]:
    """The next ``n`` times the schedule fires, as Prefect's scheduler computes them."""
    from prefect.server.schemas import schedules as server

    if getattr(schedule, "cron", None):
        kind: Any = server.CronSchedule(cron=schedule.cron, timezone=schedule.timezone, day_or=schedule.day_or)
    else:
        kind = server.IntervalSchedule(interval=schedule.interval, anchor_date=schedule.anchor_date,
                                       timezone=schedule.timezone)
    return [dt.datetime.fromisoformat(str(d)) for d in asyncio.run(kind.get_dates(n))]


def api_url() -> str | None:
    """The Prefect API the CLI talks to (None: Prefect would start a temporary server)."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def serve_deployments(*deployments: Any) -> None:
    """Register the deployments with the Prefect API and run their schedules until interrupted."""
    if not api_url():
        raise ConfigError("schedules need a running Prefect server: start one with 'prefect server start' and "
                          "set PREFECT_API_URL=http://127.0.0.1:4200/api (see docs/prefect.md)")
    from prefect import serve

    serve(*deployments)
