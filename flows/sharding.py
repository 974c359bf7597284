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

Deploy the shard flow (``prefect.yaml``: deployment ``shard``), start workers on the pool, then
run the parent anywhere that reaches the Prefect API:
``python -m flows.sharding audit.toml --shards 4``, or deploy it too (``sharded-weekly``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from audit import run as pl
from audit.errors import AuditError
from audit.run import _shards as merge
from audit.send import _journal as jr
from audit_flows.artifacts import ProgressPublisher
from audit_flows.audit_flow import TASK_OPTS, finish_stage, plan_task, run_entry, send_with_progress

SHARD_DEPLOYMENT = "refusal-audit-shard/shard"


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
    plan = open_shard_task(run_dir, shard, shards, retry_errors)
    sent = await send_with_progress(plan, False, progress_every, concurrency_limit, retry_errors)
    get_run_logger().info("shard %d/%d of run %s: %d requests sent", shard, shards, plan.run_id, sent)
    return {"run_dir": run_dir, "shard": shard, "sent": sent, "journal": str(plan.journal_path)}


async def watch_shards(plan: pl.RunPlan, publisher: ProgressPublisher, start: int) -> None:
    """Feed the parent's progress artifact from the shards' journal line counts."""
    base = sum(merge.shard_counts(plan.run_dir).values())
    while True:
        await asyncio.sleep(publisher.seconds)
        publisher.set_done(min(publisher.total, start + sum(merge.shard_counts(plan.run_dir).values()) - base))


async def start_shard(plan: pl.RunPlan, shard: int, shards: int, deployment: str,
                      concurrency_limit: str | None, retry_errors: bool = False) -> Any:
    """Create a flow run of the shard deployment and wait for it to finish."""
    from prefect.deployments import arun_deployment

    params: dict[str, Any] = {"run_dir": str(Path(plan.run_dir).resolve()), "shard": shard, "shards": shards,
                              "concurrency_limit": concurrency_limit}
    if retry_errors:  # only when asked, so shard deployments registered before this option still run
        params["retry_errors"] = True
    return await arun_deployment(deployment, parameters=params, timeout=None, poll_interval=2,
                                 flow_run_name=f"{plan.run_id}-shard-{shard}-of-{shards}",
                                 tags=["refusal-audit", "shard"])


@flow(name="refusal-audit-sharded", log_prints=True)
async def sharded_audit_flow(config: dict[str, Any] | None = None, config_file: str | None = None,
                             run_id: str | None = None, resume_dir: str | None = None, shards: int = 2,
                             shard_deployment: str = SHARD_DEPLOYMENT, concurrency_limit: str | None = None,
                             check_drift: bool = True, retry_errors: bool = False) -> dict[str, Any]:
    """Audit with the requests split over ``shards`` flow runs of ``shard_deployment``.

    Args:
        config: the configuration (no keys); with ``config_file``, top-level overrides.
        config_file: a TOML config file, read by this flow run.
        run_id: the run folder's name (default: UTC time + target).
        resume_dir: a run folder to resume; the shards send only what no journal holds.
        shards: how many shard flow runs to start.
        shard_deployment: the shard flow's deployment, ``refusal-audit-shard/<name>``.
        concurrency_limit: a Prefect global concurrency limit shared by every shard's batches.
        check_drift: compare with the previous run of each target on the same prompt set.
        retry_errors: with ``resume_dir``, also re-send requests whose every attempt ended in an
            API error (after an outage); their answers supersede the errors in the merged journal.
    """
    if shards < 1:
        raise ShardError(f"shards must be at least 1, not {shards}")
    plan = plan_task(config or {}, resume_dir, run_id, config_file)
    merge_task(plan)  # a resumed run: fold in what earlier shards wrote, so shards skip it
    total = len(plan.requests())
    start = len(jr.done_ids(plan.journal_path, answered_only=retry_errors))
    async with ProgressPublisher(total, start) as publisher:
        watcher = asyncio.create_task(watch_shards(plan, publisher, start))
        try:
            runs = await asyncio.gather(*(start_shard(plan, k, shards, shard_deployment, concurrency_limit,
                                                      retry_errors) for k in range(shards)))
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        added = merge_task(plan)
        publisher.set_done(len(jr.done_ids(plan.journal_path, answered_only=retry_errors)))
    failed = [(k, r) for k, r in enumerate(runs) if not (r.state and r.state.is_completed())]
    if failed:
        what = ", ".join(f"shard {k} ({r.name}: {r.state.name if r.state else 'no state'})" for k, r in failed)
        raise ShardError(f"{what} did not complete; the run folder keeps every answer received — "
                         f"resume with resume_dir='{plan.run_dir}'")
    return await finish_stage(plan, added, check_drift)


def main(argv: list[str]) -> int:
    """``python -m flows.sharding CONFIG.toml --shards N``: run the parent flow here, the shards on
    the work pool of the shard deployment (needs PREFECT_API_URL and running workers)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("config_file", nargs="?")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--run-id")
    parser.add_argument("--resume")
    parser.add_argument("--deployment", default=SHARD_DEPLOYMENT)
    parser.add_argument("--concurrency-limit")
    parser.add_argument("--retry-errors", action="store_true",
                        help="with --resume: also re-send requests that ended in an API error")
    args = parser.parse_args(argv)
    if args.shards < 1:
        parser.error("--shards must be 1 or more")
    if args.retry_errors and not args.resume:
        parser.error("--retry-errors goes with --resume RUN_DIR")
    params: dict[str, Any] = {"shards": args.shards, "run_id": args.run_id, "shard_deployment": args.deployment,
                              "concurrency_limit": args.concurrency_limit}
    if args.resume:
        params["resume_dir"] = args.resume
        params["retry_errors"] = args.retry_errors
    elif not args.config_file:
        parser.error("give a config file, or --resume RUN_DIR")
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
