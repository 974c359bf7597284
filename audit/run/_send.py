"""Sending a run: what the journal lacks, in batches per target, through one client and
adaptive limiter per target; every finished request is journaled at once. A refused key
(:class:`KeyRejected`) stops every batch at once; what was journaled stays (resumable)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from audit.config import AuditConfig, Target
from audit.errors import DiskFullError, EndpointError, KeyRejected
from audit.run._lock import run_lock
from audit.run._plan import RunPlan, read_run_json, write_run_json
from audit.send import _journal as jr
from audit.send._preflight import preflight
from audit.send._requests import ChatRequest
from audit.send._runner import AdaptiveLimiter, RetryPolicy, Sender, make_client

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
    failure: KeyRejected | DiskFullError | None = None  # a refused key, a full disk: every batch stops
    active: set[asyncio.Future[int]] = field(default_factory=set)

    def record(self, rec: dict[str, Any]) -> None:
        """Append a finished request to the journal at once, then report progress."""
        self.journal.append(rec)
        self.sent.add(rec["request_id"])
        self.counts["done"] += 1
        self.counts["errors"] += rec.get("error") is not None
        if self.progress:
            self.progress(rec)

    def halt(self, exc: KeyRejected | DiskFullError) -> None:
        """Stop sending: remember why, and cancel every batch in flight."""
        self.failure = self.failure or exc
        for work in self.active:
            work.cancel()

    async def aclose(self) -> None:
        """Close the clients and the journal."""
        for s in self.senders.values():
            if self.owns_clients:
                await s.client.close()
        self.journal.close()


def key_hint(target: Target, key: str | None) -> str:
    """Where the target's key comes from, for the message of a refused key (never the key)."""
    if target.api_key_secret:
        return f"check the key in the Prefect Secret block '{target.api_key_secret}' (api_key_secret)"
    if not key:
        return (f"the environment variable {target.api_key_env} (api_key_env) is not set or empty: "
                "export the key in it")
    return f"check the key in the environment variable {target.api_key_env} (api_key_env)"


def open_senders(plan: RunPlan, keys: Mapping[str, str | None], policy: RetryPolicy | None = None,
                 progress: Progress | None = None, http_client: Any = None) -> SendContext:
    """One client and adaptive limiter per target; keys come from the entry point.
    ``http_client`` (an ``httpx.AsyncClient``) reaches every ``openai.AsyncOpenAI``."""
    senders = {}
    secrets = tuple(k for k in keys.values() if k)
    for t in plan.config.targets:
        pol = policy or RetryPolicy(max_retries=t.max_retries)
        key = keys.get(t.label)
        client = make_client(t.base_url, key, t.timeout, http_client)
        senders[t.label] = Sender(client, AdaptiveLimiter(t.concurrency), pol, secrets, timeout=t.timeout,
                                  key_hint=key_hint(t, key))
    return SendContext(senders, jr.Journal(plan.journal_path), progress, owns_clients=http_client is None)


async def send_batch(ctx: SendContext, batch: Sequence[ChatRequest]) -> int:
    """Send one batch (all of one target) through that target's sender. A refused key halts
    every batch (``ctx.failure`` says why; ``send_all`` raises it): this returns normally, so a
    Prefect task around it ends without a traceback."""
    from audit.send._runner import run_requests

    todo = [r for r in batch if r.request_id not in ctx.sent]  # a retried batch resends nothing
    if not todo or ctx.failure is not None:
        return 0
    work = asyncio.ensure_future(run_requests(todo, ctx.senders[todo[0].target], ctx.record))
    ctx.active.add(work)
    try:
        return await work
    except (KeyRejected, DiskFullError) as exc:  # the journal cannot be written: stop too
        ctx.halt(exc)
        return 0
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if ctx.failure is None or (me is not None and me.cancelling()):
            raise  # we were cancelled ourselves (an interrupt): pass it on
        return 0  # halted by another batch's refused key
    finally:
        ctx.active.discard(work)


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


async def check_endpoints(targets: Sequence[Target], http_client: Any = None,
                          keys: Mapping[str, str | None] | None = None) -> None:
    """Fail fast, before anything is sent: EndpointError (exit 2) when an endpoint cannot be
    reached, does not answer ``/models`` with a model list, or does not serve the target's model;
    KeyRejected (exit 2) when it refuses the key of a target in ``keys`` (a target missing from
    ``keys``, e.g. one whose key is in a Prefect Secret block, is checked without a key)."""
    for t in targets:
        known = keys is not None and t.label in keys
        key = keys.get(t.label) if keys is not None else None
        try:
            problem = await preflight(t.base_url, http_client=http_client, model=t.model, api_key=key)
        except KeyRejected as exc:
            if not known:
                continue  # without its key, a 401 proves nothing: sending will tell
            raise KeyRejected(f"target '{t.label}': {exc} — {key_hint(t, key)}") from None
        if problem:
            fix = "" if " — " in problem else " — is the server running and the --base-url right?"
            raise EndpointError(f"target '{t.label}': {problem}{fix}")


def preflight_keys(config: AuditConfig, environ: Mapping[str, str]) -> dict[str, str | None]:
    """The keys ``check_endpoints`` can check before a run starts (entry points only): those
    read from the environment; a key in a Prefect Secret block is only read by the flow."""
    return {t.label: environ.get(t.api_key_env) or None for t in config.targets if not t.api_key_secret}


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
    ``pending`` saves recomputing what the journal lacks when the caller has it already. A
    refused key stops every batch and raises :class:`KeyRejected` (run.json: ``stopped``); so
    does a journal that cannot be written, with :class:`DiskFullError`. The journal's folder is
    locked while sending: another process sending to it raises ``RunFolderBusy``.
    """
    plan.journal_path.parent.mkdir(parents=True, exist_ok=True)
    with run_lock(plan.journal_path.parent):  # one sending process per journal (audit.run._lock)
        ctx = open_senders(plan, keys, policy, progress, http_client)
        try:
            todo = pending if pending is not None else pending_requests(plan, retry_errors)
            work = batches(todo, plan.config.batch_size)
            results = await gather_gated([partial(run_batch, ctx, b) for b in work], batch_parallelism(plan))
        finally:
            await ctx.aclose()
    if isinstance(ctx.failure, DiskFullError):
        raise ctx.failure  # the journal keeps every answer written before; nothing else is written
    if ctx.failure is not None:
        raise stopped(plan, ctx.failure)
    meta = read_run_json(plan.run_dir) if (plan.run_dir / "run.json").is_file() else {}
    if meta.get("status") == "stopped":  # a resume got past a refused key
        write_run_json(plan, {"status": "running", "stopped_because": None})
    return sum(results)


def stopped(plan: RunPlan, exc: KeyRejected) -> KeyRejected:
    """A refused key: run.json says the run stopped and why; the message says how to go on."""
    write_run_json(plan, {"status": "stopped", "stopped_because": str(exc)})
    return KeyRejected(f"{exc}; the answers received so far are kept — once the key is fixed, "
                       f"resume with 'refusal-audit run --resume {plan.run_dir}'")
