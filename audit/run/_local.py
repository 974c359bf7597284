"""A whole audit without Prefect: :func:`run_audit` from a script, :func:`arun_audit` inside a
running event loop (a notebook cell). The CLI runs the same stages (``finish_stages``), or the Prefect flow
(``flows/``) when a Prefect API is configured or ``run --prefect`` asks for it; all
call the same stages."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from audit.config import AuditConfig
from audit.errors import ThresholdError
from audit.run._finish import Tables, analyse
from audit.run._lock import run_lock
from audit.run._plan import RunPlan, plan_run, resume_plan
from audit.run._precheck import check_classifier
from audit.run._send import Progress, check_endpoints, resolve_judge_key, resolve_keys, send_all
from audit.run._stance_precheck import check_stance
from audit.send._runner import RetryPolicy

__all__ = ["arun_audit", "run_audit"]


def _keys(config: AuditConfig, keys: Mapping[str, str | None] | None) -> Mapping[str, str | None]:
    """The callers' keys, else each target's (and the judge's) from the environment variable its
    settings name."""
    if keys is not None:
        return keys
    return {**resolve_keys(config, os.environ), "judge": resolve_judge_key(config, os.environ)}


async def arun_audit(config: AuditConfig, keys: Mapping[str, str | None] | None = None, *,
                     run_dir: Path | None = None, policy: RetryPolicy | None = None,
                     progress: Progress | None = None, http_client: Any = None
                     ) -> tuple[RunPlan, Tables]:
    """A whole audit in the caller's event loop: plan (or resume ``run_dir``), send, label,
    statistics, reports. ``keys``: target label → API key (and ``"judge"``), default from the
    environment; ``http_client``: an ``httpx.AsyncClient`` every request goes through (e.g. an
    in-process transport), left open. Raises :class:`ThresholdError` on a breached threshold
    (the run folder is complete). Raises ``RunFolderBusy`` when another process is sending to
    ``run_dir``: the run folder's lock is held from the plan to the reports."""
    plan = resume_plan(run_dir) if run_dir else plan_run(config)
    with run_lock(plan.run_dir):
        keys = _keys(plan.config, keys)
        await check_endpoints(plan.config.targets, http_client, keys)
        await check_classifier(plan.config, keys.get("judge"))  # the judge has its own client, never http_client
        await check_stance(plan.config)  # [stance]: template, key variable, endpoint, model — before sending
        await send_all(plan, keys, policy=policy, progress=progress, http_client=http_client)
        # labelling and statistics are CPU work, and a judge classifier runs its own event loop
        _, tables, breaches = await asyncio.to_thread(analyse, plan, keys.get("judge"))
    if breaches:
        raise ThresholdError("; ".join(breaches))
    return plan, tables


def run_audit(config: AuditConfig, keys: Mapping[str, str | None] | None = None, *,
              run_dir: Path | None = None, policy: RetryPolicy | None = None,
              progress: Progress | None = None, http_client: Any = None) -> tuple[RunPlan, Tables]:
    """:func:`arun_audit` from synchronous code (a script): one event loop for the whole run.
    Inside a running loop (Jupyter), ``await arun_audit(...)`` instead."""
    return asyncio.run(arun_audit(config, keys, run_dir=run_dir, policy=policy, progress=progress,
                                  http_client=http_client))
