"""Sharded audits on several machines: a parent flow splits a run into shards, starts each as a
flow run of the shard deployment on a work pool (``run_deployment``), waits for them, merges the
shards' journals into the run folder and reports once, exactly as an unsharded run would.

- The run folder must be on storage every worker mounts (NFS, EFS, a shared disk): the parent
  writes run.json and prompts.jsonl there, shard ``k`` appends to ``shards/<k>/responses.jsonl``.
- Each shard takes the requests whose content-hash id falls in it (``audit.merge.shard_of``);
  merging is a union by request id, so a retried or resumed shard never duplicates a request.
- ``concurrency_limit`` names a Prefect global concurrency limit: every batch, in every shard on
  every machine, holds one slot while it runs, so the limit caps the batches in flight across
  the fleet (at most limit × target concurrency requests). Create it first:
  ``prefect gcl create audit-provider --limit 4``.

- A shard whose machine is lost (no journal growth, no heartbeat for ``stall_seconds``) is marked
  crashed and started again, at most ``max_restarts`` times (``audit_flows.shard_watch``).
- The orchestration settings (shards, deployment, concurrency limit, stall handling) are kept in
  run.json, so ``--resume`` reuses them.

Deploy the shard flow (``prefect.yaml``: deployment ``shard``), start workers on the pool (one
flow run each: ``prefect worker start --pool audit-pool --limit 1``), then run the parent
anywhere that reaches the Prefect API: ``python -m flows.sharding audit.toml --shards 4``, or
deploy it too (``sharded-monthly``).
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from audit import run as pl
from audit.errors import AuditError, DiskFullError, EndpointError, KeyRejected, RunFolderBusy
from audit.run import _shards as merge
from audit.send import _journal as jr
from audit_flows.artifacts import ProgressPublisher
from audit_flows.audit_flow import (
    TASK_OPTS,
    finish_stage,
    plan_task,
    quiet_user_errors,
    run_entry,
    send_with_progress,
    stop,
)
from audit_flows.shard_watch import (
    MIN_HEARTBEAT_SECONDS,
    DeploymentShards,
    Restart,
    RunView,
    ShardBackend,
    Supervisor,
    heartbeat_seconds,
)

SHARD_DEPLOYMENT = merge.DEFAULT_SHARD_DEPLOYMENT
POLL_SECONDS = 5.0


class ShardError(AuditError):
    """A shard's flow run did not complete; the run folder keeps what it sent."""


@task(name="open-shard", **TASK_OPTS)
def open_shard_task(run_dir: str, shard: int, shards: int, retry_errors: bool = False) -> merge.ShardPlan:
    """Open one shard of a run folder."""
    return merge.open_shard(Path(run_dir), shard, shards, retry_errors)


@task(name="merge-shards", **TASK_OPTS)
def merge_task(plan: pl.RunPlan) -> int:
    """Union the shards' journals into the run's journal; return how many records were added."""
    return merge.merge_journals(plan.run_dir)


@flow(name="refusal-audit-shard", log_prints=True)
async def audit_shard_flow(run_dir: str, shard: int, shards: int, concurrency_limit: str | None = None,
                           progress_every: int = 100, retry_errors: bool = False) -> dict[str, Any]:
    """Send one shard of a run: the requests of shard ``shard`` of ``shards`` not yet in a journal.

    Args:
        run_dir: the run folder written by the parent (on storage this worker mounts).
        shard: this shard, 0-based.
        shards: the number of shards.
        concurrency_limit: a Prefect global concurrency limit; each batch holds one slot.
        progress_every: update the progress artifact every this many requests (or every 5 s).
        retry_errors: also re-send requests whose every attempt so far ended in an API error.
    """
    quiet_user_errors()
    plan = open_shard_task(run_dir, shard, shards, retry_errors)
    try:  # sending locks the shard's folder (shards/<k>/): one flow run per shard at a time
        sent = await send_with_progress(plan, False, progress_every, concurrency_limit, retry_errors)
    except (KeyRejected, EndpointError, RunFolderBusy, DiskFullError) as exc:
        return stop(exc)
    get_run_logger().info("shard %d/%d of run %s: %d requests sent", shard, shards, plan.run_id, sent)
    return {"run_dir": run_dir, "shard": shard, "sent": sent, "journal": str(plan.journal_path)}


async def watch_shards(plan: pl.RunPlan, publisher: ProgressPublisher, start: int) -> None:
    """Feed the parent's progress artifact from the shards' journal line counts."""
    base = sum(merge.shard_counts(plan.run_dir).values())
    while True:
        await asyncio.sleep(publisher.seconds)
        publisher.set_done(min(publisher.total, start + sum(merge.shard_counts(plan.run_dir).values()) - base))


def shard_backend(client: Any, plan: pl.RunPlan, settings: merge.ShardSettings,
                  retry_errors: bool = False) -> ShardBackend:
    """The shards as flow runs of the shard deployment (the tests swap in an in-process one)."""
    def parameters(shard: int) -> dict[str, Any]:
        params: dict[str, Any] = {"run_dir": str(Path(plan.run_dir).resolve()), "shard": shard,
                                  "shards": settings.shards, "concurrency_limit": settings.concurrency_limit}
        if retry_errors:  # only when asked, so shard deployments registered before this option still run
            params["retry_errors"] = True
        return params

    return DeploymentShards(client, settings.shard_deployment, plan.run_id, settings.shards, parameters,
                            heartbeat_seconds(settings.stall_seconds))


async def run_shards(plan: pl.RunPlan, settings: merge.ShardSettings, retry_errors: bool) -> list[RunView]:
    """Start every shard and see each to its end, restarting those whose machine was lost."""
    from prefect.client.orchestration import get_client

    logger = get_run_logger()

    def restarted(restart: Restart) -> None:
        merge.record_restart(plan, restart.record())

    async with get_client() as client:
        supervisor = Supervisor(shard_backend(client, plan, settings, retry_errors), settings.shards,
                                lambda: merge.shard_sizes(plan.run_dir, settings.shards), settings.stall_seconds,
                                settings.max_restarts, POLL_SECONDS, restarted, logger.warning)
        return await supervisor.run()


def resume_command(run_dir: Path) -> str:
    """The command that resumes a sharded run folder (its settings come from its run.json)."""
    return f"python -m flows.sharding --resume {shlex.quote(str(Path(run_dir).resolve()))}"


@flow(name="refusal-audit-sharded", log_prints=True)
async def sharded_audit_flow(config: dict[str, Any] | None = None, config_file: str | None = None,
                             run_id: str | None = None, resume_dir: str | None = None, shards: int | None = None,
                             shard_deployment: str | None = None, concurrency_limit: str | None = None,
                             check_drift: bool = True, retry_errors: bool = False, stall_seconds: float | None = None,
                             max_restarts: int | None = None) -> dict[str, Any]:
    """Audit with the requests split over ``shards`` flow runs of ``shard_deployment``.

    On a resume, the orchestration settings left at None (``shards``, ``shard_deployment``,
    ``concurrency_limit``, ``stall_seconds``, ``max_restarts``) are the run's, from its run.json.

    Args:
        config: the configuration (no keys); with ``config_file``, top-level overrides.
        config_file: a TOML config file, read by this flow run.
        run_id: the run folder's name (default: UTC time + target).
        resume_dir: a run folder to resume; the shards send only what no journal holds.
        shards: how many shard flow runs to start (default 2).
        shard_deployment: the shard flow's deployment (default ``refusal-audit-shard/shard``).
        concurrency_limit: a Prefect global concurrency limit shared by every shard's batches
            (``""``: none, dropping the one a resumed run had).
        check_drift: compare with the previous run of each target on the same prompt set.
        retry_errors: with ``resume_dir``, also re-send requests whose every attempt ended in an
            API error (after an outage); their answers supersede the errors in the merged journal.
        stall_seconds: a running shard with no journal growth, heartbeat or state change for this
            long (default 300) is marked crashed and started again.
        max_restarts: how many times each shard may be started again (default 2).
    """
    settings = merge.resolve_settings(Path(resume_dir) if resume_dir else None, shards=shards,
                                      shard_deployment=shard_deployment, concurrency_limit=concurrency_limit,
                                      stall_seconds=stall_seconds, max_restarts=max_restarts)
    quiet_user_errors()
    plan = plan_task(config or {}, resume_dir, run_id, config_file)
    with pl.run_lock(plan.run_dir):  # one parent per run folder; each shard locks its own folder
        return await run_sharded(plan, settings, check_drift, retry_errors)


async def run_sharded(plan: pl.RunPlan, settings: merge.ShardSettings, check_drift: bool,
                      retry_errors: bool) -> dict[str, Any]:
    """The sharded run, its folder locked: merge, start and watch the shards, merge, reports."""
    merge.save_settings(plan, settings)
    merge_task(plan)  # a resumed run: fold in what earlier shards wrote, so shards skip it
    total = len(plan.requests())
    start = len(jr.done_ids(plan.journal_path, answered_only=retry_errors))
    async with ProgressPublisher(total, start) as publisher:
        watcher = asyncio.create_task(watch_shards(plan, publisher, start))
        try:
            outcomes = await run_shards(plan, settings, retry_errors)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        added = merge_task(plan)
        publisher.set_done(len(jr.done_ids(plan.journal_path, answered_only=retry_errors)))
    failed = [(k, r) for k, r in enumerate(outcomes) if r.state_type != "COMPLETED"]
    if failed:
        what = ", ".join(f"shard {k} ({r.name}: {r.state_name}{': ' + r.message if r.message else ''})"
                         for k, r in failed)
        raise ShardError(f"{what} did not complete; the run folder keeps every answer received — resume with: "
                         f"{resume_command(plan.run_dir)} (flow parameter resume_dir='{plan.run_dir}')")
    result = await finish_stage(plan, added, check_drift)
    if isinstance(result, dict):
        result["restarts"] = pl.read_run_json(plan.run_dir).get(merge.ORCHESTRATION_KEY, {}).get("restarts", [])
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line of ``python -m flows.sharding``, checked."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("config_file", nargs="?")
    parser.add_argument("--shards", type=int, help="shard flow runs to start (default 2; a resume: the run's)")
    parser.add_argument("--run-id")
    parser.add_argument("--resume", metavar="RUN_DIR", help="resume this run folder with the settings of its run.json")
    parser.add_argument("--deployment", help=f"the shard flow's deployment (default {SHARD_DEPLOYMENT})")
    parser.add_argument("--concurrency-limit", help="a Prefect global concurrency limit for every shard's batches "
                                                    "('' with --resume: drop the run's)")
    parser.add_argument("--stall-seconds", type=float,
                        help="restart a running shard silent this long: no journal growth, no heartbeat (default 300)")
    parser.add_argument("--max-restarts", type=int, help="restarts per shard before the run fails (default 2)")
    parser.add_argument("--retry-errors", action="store_true",
                        help="with --resume: also re-send requests that ended in an API error")
    args = parser.parse_args(argv)
    if args.shards is not None and args.shards < 1:
        parser.error("--shards must be 1 or more")
    if args.stall_seconds is not None and args.stall_seconds < 2 * MIN_HEARTBEAT_SECONDS:
        parser.error(f"--stall-seconds must be at least {2 * MIN_HEARTBEAT_SECONDS} (two of Prefect's shortest "
                     "heartbeat intervals), or a healthy but quiet shard would be restarted")
    if args.max_restarts is not None and args.max_restarts < 0:
        parser.error("--max-restarts must be 0 or more")
    if args.retry_errors and not args.resume:
        parser.error("--retry-errors goes with --resume RUN_DIR")
    if bool(args.resume) == bool(args.config_file):
        parser.error("give a config file, or --resume RUN_DIR (not both)")
    return args


def main(argv: list[str]) -> int:
    """``python -m flows.sharding CONFIG.toml --shards N``: run the parent flow here, the shards on
    the work pool of the shard deployment (needs PREFECT_API_URL and running workers)."""
    args = parse_args(argv)
    params: dict[str, Any] = {"shards": args.shards, "run_id": args.run_id, "shard_deployment": args.deployment,
                              "concurrency_limit": args.concurrency_limit, "stall_seconds": args.stall_seconds,
                              "max_restarts": args.max_restarts}
    if args.resume:
        params["resume_dir"] = args.resume
        params["retry_errors"] = args.retry_errors
    else:
        params["config_file"] = str(Path(args.config_file).resolve())
    from audit.config import load_config
    from audit.run._precheck import precheck

    def start() -> dict[str, Any]:  # user mistakes are caught before Prefect starts
        if args.resume:
            precheck(None, args.resume)
        else:
            precheck(load_config(Path(args.config_file), {}, {}), None, args.run_id)
        return asyncio.run(sharded_audit_flow(**params))

    return run_entry(start)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
