"""Sending a run: what the journal lacks, in batches per target, through one client and
adaptive limiter per target; every finished request is journaled at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from audit.config import AuditConfig, Target
from audit.errors import EndpointError
from audit.run._plan import RunPlan
from audit.send import _journal as jr
from audit.send._requests import ChatRequest
from audit.send._runner import AdaptiveLimiter, RetryPolicy, Sender, make_client, preflight

Progress = Callable[[dict[str, Any]], None]


def pending_requests(plan: RunPlan, retry_errors: bool = False) -> list[ChatRequest]:
    """The requests whose id is not yet in the journal (resume = run what is missing); with
    ``retry_errors``, also those whose every attempt so far ended in an API error."""
    jr.repair(plan.journal_path)
    done = jr.done_ids(plan.journal_path, answered_only=retry_errors)
    return [r for r in plan.requests() if r.request_id not in done]


def batches(requests: Sequence[ChatRequest], size: int) -> list[list[ChatRequest]]:
    """Split requests into batches of at most ``size``, keeping each batch to one target."""
    out: list[list[ChatRequest]] = []
    for target in dict.fromkeys(r.target for r in requests):
        mine = [r for r in requests if r.target == target]
        out += [mine[i:i + size] for i in range(0, len(mine), size)]
    return out


@dataclass
class SendContext:
    """What sending needs, built once per process: clients, limiters and the journal."""

    senders: dict[str, Sender]
    journal: jr.Journal
    progress: Progress | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"done": 0, "errors": 0})
    sent: set[str] = field(default_factory=set)
    owns_clients: bool = True  # False when the caller injected the HTTP client: theirs to close

    def record(self, rec: dict[str, Any]) -> None:
        """Append a finished request to the journal at once, then report progress."""
        self.journal.append(rec)
        self.sent.add(rec["request_id"])
        self.counts["done"] += 1
        self.counts["errors"] += rec.get("error") is not None
        if self.progress:
            self.progress(rec)

    async def aclose(self) -> None:
        """Close the clients and the journal."""
        for s in self.senders.values():
            if self.owns_clients:
                await s.client.close()
        self.journal.close()


def open_senders(plan: RunPlan, keys: Mapping[str, str | None], policy: RetryPolicy | None = None,
                 progress: Progress | None = None, http_client: Any = None) -> SendContext:
    """One client and adaptive limiter per target; keys come from the entry point.
    ``http_client`` (an ``httpx.AsyncClient``) reaches every ``openai.AsyncOpenAI``."""
    senders = {}
    secrets = tuple(k for k in keys.values() if k)
    for t in plan.config.targets:
        pol = policy or RetryPolicy(max_retries=t.max_retries)
        client = make_client(t.base_url, keys.get(t.label), t.timeout, http_client)
        senders[t.label] = Sender(client, AdaptiveLimiter(t.concurrency), pol, secrets)
    return SendContext(senders, jr.Journal(plan.journal_path), progress, owns_clients=http_client is None)


async def send_batch(ctx: SendContext, batch: Sequence[ChatRequest]) -> int:
    """Send one batch (all of one target) through that target's sender."""
    from audit.send._runner import run_requests

    todo = [r for r in batch if r.request_id not in ctx.sent]  # a retried batch resends nothing
    if not todo:
        return 0
    return await run_requests(todo, ctx.senders[todo[0].target], ctx.record)


async def gather_gated(jobs: Sequence[Callable[[], Any]], limit: int) -> list[Any]:
    """Run async jobs (zero-argument callables) with at most ``limit`` at once (batches in flight).

    Coroutines are created only when a job starts, so an interrupted run leaves none unawaited.
    """
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Any]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def batch_parallelism(plan: RunPlan) -> int:
    """Batches in flight: enough to keep every target's limiter busy across batch tails."""
    return 2 * len(plan.config.targets) + 1


async def check_endpoints(targets: Sequence[Target], http_client: Any = None) -> None:
    """Fail fast (EndpointError, exit 2) when an endpoint cannot be reached at all."""
    for t in targets:
        if problem := await preflight(t.base_url, http_client=http_client):
            raise EndpointError(f"target '{t.label}': {problem} — is the server running and the --base-url right?")


def resolve_keys(config: AuditConfig, environ: Mapping[str, str]) -> dict[str, str | None]:
    """Read each target's key from the environment variable it names (entry points only)."""
    return {t.label: environ.get(t.api_key_env) or None for t in config.targets}


def resolve_judge_key(config: AuditConfig, environ: Mapping[str, str]) -> str | None:
    """The judge's key, from the environment variable its settings name (entry points only)."""
    return environ.get(config.judge.api_key_env) or None if config.judge else None



BatchRunner = Callable[[SendContext, list[ChatRequest]], Any]


async def send_all(plan: RunPlan, keys: Mapping[str, str | None], *, policy: RetryPolicy | None = None,
                   progress: Progress | None = None, retry_errors: bool = False,
                   pending: list[ChatRequest] | None = None, run_batch: BatchRunner = send_batch,
                   http_client: Any = None) -> int:
    """Send every pending request of a run, batches of each target concurrently.

    ``run_batch`` sends one batch (the Prefect flow passes one that wraps it in a task);
    ``pending`` saves recomputing what the journal lacks when the caller has it already.
    """
    ctx = open_senders(plan, keys, policy, progress, http_client)
    try:
        todo = pending if pending is not None else pending_requests(plan, retry_errors)
        work = batches(todo, plan.config.batch_size)
        results = await gather_gated([partial(run_batch, ctx, b) for b in work], batch_parallelism(plan))
    finally:
        await ctx.aclose()
    return sum(results)
