"""The audit as a Prefect flow: one task per stage, one task per *batch* of requests.

Run it with ``refusal-audit run`` when a Prefect API is configured (``PREFECT_API_URL``) or with
``refusal-audit run --prefect`` (no server needed: a temporary one is started; without either,
the CLI runs the same stages without Prefect, ``audit/run/_finish.py``),
serve it on a schedule with ``refusal-audit schedule``, deploy it with ``prefect deploy`` (see
``prefect.yaml`` and ``docs/prefect.md``), or run it directly: ``python flows/audit_flow.py
audit.toml``. The flow receives the configuration, never a key: each target names the
environment variable that holds its key (or, in Prefect, a Secret block).

Each flow run publishes artifacts (headline and claims tables, a markdown summary, a link to
report.html, a progress bar updated while requests run), compares itself with the previous run
of the same target and prompt set (``audit/drift.py``), and fails with ``ThresholdError`` when a
threshold is breached or a metric changed significantly.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.utilities.annotations import quote

from audit import run as pl
from audit.config import AuditConfig, build_config, load_config
from audit.errors import (
    AuditError,
    ConfigError,
    DiskFullError,
    EndpointError,
    KeyRejected,
    RunFolderBusy,
    ThresholdError,
)
from audit.run._finish import check_run_drift
from audit.send._requests import ChatRequest
from audit.stats import _drift as dr
from audit_flows.artifacts import ProgressPublisher, publish_results

TASK_OPTS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}

T = TypeVar("T")


def quoted(value: T) -> T:
    """``quote(value)``, typed as ``value``: Prefect unwraps a quote before it calls the task, so
    the task receives ``value`` itself (Prefect's task signatures do not model the wrapper)."""
    return cast(T, quote(value))


def settings(config: Mapping[str, Any] | None, config_file: str | None) -> AuditConfig:
    """The run's configuration: a TOML file (relative paths are from the working directory) with
    ``config`` as top-level overrides, or ``config`` alone."""
    if config_file:
        return load_config(Path(config_file), dict(config or {}), {})
    cfg = build_config(dict(config or {}))
    if not cfg.targets:
        raise ConfigError("no target: give the flow a config with [[targets]] or a config_file")
    return cfg


@task(name="plan", **TASK_OPTS)
def plan_task(config: dict[str, Any], resume_dir: str | None, run_id: str | None,
              config_file: str | None = None) -> pl.RunPlan:
    """Make (or re-open) the run folder and choose the prompts."""
    if resume_dir:
        return pl.resume_plan(Path(resume_dir))
    return pl.plan_run(settings(config, config_file), run_id)


@task(name="send-batch", **TASK_OPTS)
async def send_batch_task(ctx: pl.SendContext, batch: list[ChatRequest]) -> int:
    """Send one batch of requests (one target); the journal records each as it finishes."""
    return await pl.send_batch(ctx, batch)


@task(name="label", **TASK_OPTS)
def label_task(plan: pl.RunPlan) -> pd.DataFrame:
    """Label every answer in the journal."""
    return pl.label_responses(plan, pl.resolve_judge_key(plan.config, os.environ))


@task(name="statistics", **TASK_OPTS)
def stats_task(plan: pl.RunPlan, responses: pd.DataFrame) -> pl.Tables:
    """Rates, intervals, tests and claim verdicts."""
    return pl.compute_tables(plan, responses)


@task(name="record", **TASK_OPTS)
def record_task(plan: pl.RunPlan, responses: pd.DataFrame, tables: pl.Tables) -> list[str]:
    """Write the CSVs and run.json; return threshold breaches."""
    return pl.record_run(plan, responses, tables)


@task(name="reports", **TASK_OPTS)
def report_task(plan: pl.RunPlan) -> str:
    """Render report.html and add the run to the history (after drift, so both show it)."""
    return str(pl.render_reports(plan))


@task(name="drift", **TASK_OPTS)
def drift_task(plan: pl.RunPlan) -> dr.DriftReport:
    """Compare with the previous run of each target (same model and endpoint) on the same prompt
    set; write drift.csv."""
    return check_run_drift(plan)


async def resolve_keys(config: AuditConfig) -> dict[str, str | None]:
    """Each target's key: from the Prefect Secret block it names (``api_key_secret``), else from
    the environment variable it names (``api_key_env``). Keys never enter flow parameters."""
    keys = pl.resolve_keys(config, os.environ)
    for t in config.targets:
        block_name = getattr(t, "api_key_secret", None)
        if not block_name:
            continue
        from prefect.blocks.system import Secret

        try:
            block = await Secret.aload(block_name)
        except ValueError:
            raise ConfigError(f"target '{t.label}': no Prefect Secret block '{block_name}' — create it "
                              f"in the UI (Blocks → Secret) or with Secret(value=...).save('{block_name}')") from None
        keys[t.label] = str(block.get())  # type: ignore[attr-defined]
    return keys


async def run_batch(ctx: pl.SendContext, batch: list[ChatRequest], concurrency_limit: str | None) -> int:
    """One batch task; with a global concurrency limit, it holds one slot for the whole batch."""
    if ctx.failure is not None:  # a refused key stopped the run: no task for the batches left
        return 0
    if not concurrency_limit:
        return await send_batch_task(quoted(ctx), quoted(batch))
    from prefect.concurrency.asyncio import concurrency

    async with concurrency(concurrency_limit, occupy=1, strict=True):
        return await send_batch_task(quoted(ctx), quoted(batch))


async def send_stage(plan: pl.RunPlan, progress: pl.Progress | None, concurrency_limit: str | None = None,
                     retry_errors: bool = False, pending: list[ChatRequest] | None = None) -> int:
    """Send every pending request, batch by batch, with shared per-target limiters."""
    keys = await resolve_keys(plan.config)
    await pl.check_endpoints(plan.config.targets, keys=keys)
    # the judge's table, endpoint, model and key: before sending, not after
    await pl.check_classifier(plan.config, pl.resolve_judge_key(plan.config, os.environ))
    return await pl.send_all(plan, keys, progress=progress, retry_errors=retry_errors, pending=pending,
                             run_batch=partial(run_batch, concurrency_limit=concurrency_limit))


def fan_out(*callbacks: Callable[[dict[str, Any]], None] | None) -> pl.Progress:
    """One progress callback that calls several."""
    live = [c for c in callbacks if c is not None]

    def call(rec: dict[str, Any]) -> None:
        for c in live:
            c(rec)
    return call


async def send_with_progress(plan: pl.RunPlan, show_progress: bool, progress_every: int,
                             concurrency_limit: str | None, retry_errors: bool = False) -> int:
    """``send_stage`` with a progress artifact (and a terminal bar when asked)."""
    total = len(plan.requests())
    pending = pl.pending_requests(plan, retry_errors)
    done = total - len(pending)
    bar = _progress_bar(total, done) if show_progress else None
    every = progress_every or max(100, total // 20)  # 0 = auto: about every 5% (and every 5 s)
    async with ProgressPublisher(total, done, every=every) as publisher:
        try:
            return await send_stage(plan, fan_out(publisher.record, bar.update if bar else None),
                                    concurrency_limit, retry_errors, pending)
        finally:
            if bar:
                bar.close()


async def finish_stage(plan: pl.RunPlan, sent: int, check_drift: bool = True) -> dict[str, Any]:
    """Label, statistics, reports, drift and artifacts; raise ThresholdError on a breach or an alert."""
    # quoted(): Prefect would otherwise walk every prompt, request and row looking for futures
    responses = label_task(quoted(plan))
    tables = stats_task(quoted(plan), quoted(responses))
    breaches = record_task(quoted(plan), quoted(responses), quoted(tables))
    for line in pl.read_run_json(plan.run_dir).get("warnings") or []:  # most requests failed
        get_run_logger().warning(line)
    drift = drift_task(quoted(plan)) if check_drift else None
    report_task(quoted(plan))
    await publish_results(plan, tables.summary, breaches, drift, sent)
    get_run_logger().info("run %s: %d requests sent, report in %s", plan.run_id, sent, plan.run_dir)
    problems = [*breaches, *(drift.alerts if drift else [])]
    if problems:  # a finding, not a crash: fail the run with the message, no traceback
        message = "; ".join(problems)
        return Failed(message=message, data=ThresholdError(message))  # type: ignore[return-value]
    return {"run_id": plan.run_id, "run_dir": str(plan.run_dir), "sent": sent,
            "headline": pl.headline(tables).to_dict("records"), "flow_run_id": _flow_run_id()}


@flow(name="refusal-audit", log_prints=True)
async def audit_flow(config: dict[str, Any] | None = None, resume_dir: str | None = None,
                     run_id: str | None = None, show_progress: bool = False, config_file: str | None = None,
                     check_drift: bool = True, concurrency_limit: str | None = None,
                     progress_every: int = 0, retry_errors: bool = False) -> dict[str, Any]:
    """Audit one or more OpenAI-compatible targets for refusals and asymmetric refusals.

    Args:
        config: the configuration (``AuditConfig`` fields, no keys); with ``config_file``, overrides.
        resume_dir: a run folder to resume (send only what its journal lacks).
        run_id: the run folder's name (default: UTC time + target).
        show_progress: show progress: a bar on a terminal, a plain line every few seconds when
            stderr is not a terminal (a redirected log).
        config_file: a TOML config file, read by the flow run (relative to its working directory).
        check_drift: compare with the previous run of each target on the same prompt set.
        concurrency_limit: a Prefect global concurrency limit; each batch holds one slot.
        progress_every: update the progress artifact every this many requests (or every 5 s);
            0 (the default) updates about every 5% of the run.
        retry_errors: with ``resume_dir``, also re-send requests whose every attempt failed.
    """
    quiet_user_errors()
    plan = plan_task(config or {}, resume_dir, run_id, config_file)
    try:
        with pl.run_lock(plan.run_dir):  # one sending process per run folder, until its reports exist
            sent = await send_with_progress(plan, show_progress, progress_every, concurrency_limit, retry_errors)
            return await finish_stage(plan, sent, check_drift)
    except (KeyRejected, EndpointError, RunFolderBusy, DiskFullError) as exc:
        return stop(exc)


def stop(exc: AuditError) -> Any:
    """A set-up problem found while sending (a refused key, an endpoint gone, another process on
    the run folder, a full disk): the flow run fails with the message, no traceback; the caller
    gets ``exc`` itself (the CLI prints one line)."""
    return Failed(message=str(exc), data=exc)


class _UserErrorFilter(logging.Filter):
    """Drops the traceback Prefect logs with a task or flow run that raised an ``AuditError``:
    its message names the problem and the fix, in one line (the house rule for user errors)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], AuditError):
            record.exc_info = None
            record.exc_text = None
        return True


_USER_ERRORS = _UserErrorFilter()


def quiet_user_errors() -> None:
    """Log an ``AuditError`` raised in a task or flow run as one line (idempotent)."""
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(name)
        if _USER_ERRORS not in logger.filters:
            logger.addFilter(_USER_ERRORS)


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    return str(run_id) if run_id else None


def _progress_bar(total: int, done: int) -> Any:
    """A rich bar on a terminal; a plain line every few seconds when stderr is not one."""
    from audit_flows.progress import progress_reporter

    return progress_reporter(total, done)


USAGE = "usage: python flows/audit_flow.py CONFIG.toml   (a refusal-audit TOML config; see audit.example.toml)"


def main(argv: list[str]) -> int:
    """``python flows/audit_flow.py CONFIG.toml``: run the flow on a config file.

    Exit 0 when the audit passes, 1 when it fails its thresholds or drift checks, 2 for a usage,
    config or endpoint error — each with one clear line on stderr, never a traceback.
    """
    import asyncio

    from audit.run._precheck import precheck

    if argv in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2

    def start() -> dict[str, Any]:
        config: AuditConfig = load_config(Path(argv[0]), {}, {})
        precheck(config, None)  # user mistakes before Prefect starts
        return asyncio.run(audit_flow(config=config.public_dict(), show_progress=True))

    return run_entry(start)


def run_entry(start: Callable[[], dict[str, Any]]) -> int:
    """Run a flow file's entry point: print the headline table as ``refusal-audit run`` does and
    the run folder last (exit 0), or the error in one line (exit 2 for a user mistake, 1 for a
    failed audit) — never a traceback."""
    from audit.errors import AuditError
    from audit.report._console import print_headline

    try:
        result = start()
    except AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if result.get("headline") is not None:
        print_headline(result)
    print(result["run_dir"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
