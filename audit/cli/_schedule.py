"""``refusal-audit schedule``: serve the audit on a cron or interval schedule with Prefect.

Prefect is imported only when the command runs (``import audit`` never imports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import httpx2
import typer

from audit.config import AuditConfig, load_config, safe_name
from audit.errors import EndpointError

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add ``schedule`` to the main app."""
    app.command("schedule")(schedule)


def default_name(config: AuditConfig) -> str:
    """A deployment name from the target names, e.g. ``audit-gpt-4o-mini``."""
    return "audit-" + safe_name("+".join(t.label for t in config.targets), 60).lower()


def schedule(
    config_file: Annotated[Path, typer.Argument(help="TOML config file of the audit to schedule.")],
    cron: Annotated[str | None, Opt(help='Cron schedule, e.g. "0 3 * * 1" (Mondays at 03:00).')] = None,
    interval: Annotated[float | None, Opt(help="Run every SECONDS instead of on a cron schedule.")] = None,
    timezone: Annotated[str, Opt(help="IANA time zone of the schedule, e.g. Europe/Berlin.")] = "UTC",
    name: Annotated[str | None, Opt(help="Deployment name (default: audit-<target names>).")] = None,
    reports_dir: Annotated[str | None, Opt(help="Where run folders go (default: the config's, or reports/).")] = None,
    drift: Annotated[bool, Opt(help="Fail a run whose figures changed significantly since the previous run.")] = True,
    concurrency_limit: Annotated[str | None, Opt(
        help="A Prefect global concurrency limit to share with other audits; each batch holds one slot.")] = None,
    check: Annotated[bool, Opt("--check", help="Show the deployment and its next runs, then exit.")] = False,
) -> int:
    """Run the audit on a schedule: register a Prefect deployment and serve it until Ctrl-C.

    Needs a Prefect server: run "prefect server start" and set PREFECT_API_URL=http://127.0.0.1:4200/api.
    Each run writes its own run folder, publishes artifacts, compares itself with the previous
    run and fails (red in the UI) on a threshold breach or a significant change. API keys are
    read by each run from the environment variables the targets name.
    """
    from audit_flows import deployments as dp

    config = load_config(config_file, {"reports_dir": reports_dir}, {})
    deployment = dp.build_deployment(config, name or default_name(config), cron=cron, interval=interval,
                                     timezone=timezone, check_drift=drift, concurrency_limit=concurrency_limit)
    sched = deployment.schedules[0].schedule
    when = ", ".join(d.strftime("%Y-%m-%d %H:%M:%S %Z") for d in dp.next_runs(sched))
    typer.echo(f"deployment {dp.FLOW_NAME}/{deployment.name}: {dp.describe_schedule(sched)}")
    typer.echo(f"next runs: {when}")
    typer.echo(f"targets: {', '.join(t.label for t in config.targets)}; "
               f"run folders in {deployment.parameters['config']['reports_dir']}")
    if check:
        return 0
    typer.echo("serving: runs appear in the Prefect UI; stop with Ctrl-C")
    try:
        dp.serve_deployments(deployment)
    except (httpx.ConnectError, httpx2.ConnectError) as exc:
        raise EndpointError(f"cannot reach the Prefect API ({exc}) — start 'prefect server start' "
                            "and set PREFECT_API_URL to it") from None
    return 0
