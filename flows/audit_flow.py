"""The audit as a Prefect flow: one task per stage, one task per *batch* of requests.

Run it with ``refusal-audit run`` (no Prefect server needed: Prefect starts a temporary one),
or directly: ``python flows/audit_flow.py audit.toml``. The flow receives the configuration
(never a key): each target names the environment variable that holds its key.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from audit import pipeline as pl
from audit.config import AuditConfig, build_config
from audit.errors import ThresholdError
from audit.requests import ChatRequest

TASK_OPTS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}


@task(name="plan", **TASK_OPTS)
def plan_task(config: dict[str, Any], resume_dir: str | None, run_id: str | None) -> pl.RunPlan:
    """Make (or re-open) the run folder and choose the prompts."""
    if resume_dir:
        return pl.resume_plan(Path(resume_dir))
    return pl.plan_run(build_config(config), run_id)


@task(name="send-batch", **TASK_OPTS)
async def send_batch_task(ctx: pl.SendContext, batch: list[ChatRequest]) -> int:
    """Send one batch of requests (one target); the journal records each as it finishes."""
    return await pl.send_batch(ctx, batch)


@task(name="label", **TASK_OPTS)
def label_task(plan: pl.RunPlan) -> pd.DataFrame:
    """Label every answer in the journal."""
    return pl.label_responses(plan)


@task(name="statistics", **TASK_OPTS)
def stats_task(plan: pl.RunPlan, responses: pd.DataFrame) -> pl.Tables:
    """Rates, intervals, tests and claim verdicts."""
    return pl.compute_tables(plan, responses)


@task(name="reports", **TASK_OPTS)
def report_task(plan: pl.RunPlan, responses: pd.DataFrame, tables: pl.Tables) -> list[str]:
    """Write the CSVs, run.json, report.html and the history; return threshold breaches."""
    return pl.finish_run(plan, responses, tables)


async def send_stage(plan: pl.RunPlan, progress: pl.Progress | None) -> int:
    """Send every pending request, batch by batch, with shared per-target limiters."""
    keys = pl.resolve_keys(plan.config, os.environ)
    await pl.check_endpoints(plan.config.targets)
    ctx = pl.open_senders(plan, keys, progress=progress)
    try:
        work = pl.batches(pl.pending_requests(plan), plan.config.batch_size)
        jobs = [partial(send_batch_task, ctx, b) for b in work]
        sent = await pl.gather_gated(jobs, pl.batch_parallelism(plan))
    finally:
        await ctx.aclose()
    return sum(sent)


@flow(name="refusal-audit", log_prints=True)
async def audit_flow(config: dict[str, Any] | None = None, resume_dir: str | None = None,
                     run_id: str | None = None, show_progress: bool = False) -> dict[str, Any]:
    """Audit one or more OpenAI-compatible targets for refusals and asymmetric refusals."""
    plan = plan_task(config or {}, resume_dir, run_id)
    progress = _progress_bar(plan) if show_progress else None
    try:
        sent = await send_stage(plan, progress.update if progress else None)
    finally:
        if progress:
            progress.close()
    responses = label_task(plan)
    tables = stats_task(plan, responses)
    breaches = report_task(plan, responses, tables)
    get_run_logger().info("run %s: %d requests sent, report in %s", plan.run_id, sent, plan.run_dir)
    if breaches:
        raise ThresholdError("; ".join(breaches))
    return {"run_id": plan.run_id, "run_dir": str(plan.run_dir), "sent": sent,
            "headline": pl.headline(tables).to_dict("records")}


def _progress_bar(plan: pl.RunPlan) -> Any:
    from audit.progress import ProgressBar

    done = len(plan.requests()) - len(pl.pending_requests(plan))
    return ProgressBar(total=len(plan.requests()), done=done)


def main(argv: list[str]) -> int:
    """``python flows/audit_flow.py CONFIG.toml``: run the flow on a config file."""
    import asyncio

    from audit.config import load_config

    config: AuditConfig = load_config(Path(argv[0]), {}, {})
    result = asyncio.run(audit_flow(config=config.public_dict(), show_progress=True))
    print(result["run_dir"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
