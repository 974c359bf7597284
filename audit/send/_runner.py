"""The runner: send chat requests to an OpenAI-compatible endpoint, concurrently and politely.

- bounded, adaptive concurrency: a 429 halves the limit, successes raise it again (AIMD);
- retries with exponential backoff and full jitter on 429, 5xx, timeouts, connection errors
  and malformed responses, honouring ``Retry-After``;
- every finished request (success or final failure) goes to ``on_record`` at once, which
  appends it to the journal: a crash never loses a completed request.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

import httpx
import openai

from audit.send._requests import ChatRequest

Record = dict[str, Any]
OnRecord = Callable[[Record], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts."""

    max_retries: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for the given attempt (0-based)."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


class AdaptiveLimiter:
    """A concurrency limit that halves on rate limiting and grows back one step per window.

    Waiters queue first in, first out and a release wakes exactly the waiters that can now run
    (not every waiter, as ``asyncio.Condition.notify_all`` would: at concurrency 32 that
    thundering herd cost more client CPU than the requests themselves).
    """

    def __init__(self, maximum: int, minimum: int = 1) -> None:
        self.maximum = maximum
        self.minimum = minimum
        self.limit = maximum
        self.in_flight = 0
        self.throttled = 0
        self._successes = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> Self:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return self
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # the releaser counts us in flight before it wakes us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # granted, then cancelled: give the slot back
                self._release()
            elif waiter in self._waiters:  # a release may have dropped it already
                self._waiters.remove(waiter)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def on_rate_limited(self) -> None:
        """Halve the limit (not below the minimum)."""
        self.throttled += 1
        self.limit = max(self.minimum, self.limit // 2)
        self._successes = 0

    def on_success(self) -> None:
        """Grow the limit by one after a window of successes at the current limit."""
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self.limit += 1
            self._successes = 0
            self._wake()


class BadResponse(Exception):
    """A 200 response that holds no usable completion (no choices)."""


CHAT_COMPLETIONS = "/chat/completions"
"""The chat completions path, relative to the client's ``base_url``."""

RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
             openai.APIConnectionError, openai.APIResponseValidationError, BadResponse,
             json.JSONDecodeError)


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if it said."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    if ms := headers.get("retry-after-ms"):
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:  # an HTTP date; a naive one is taken as UTC; anything else is ignored
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return max(0.0, (parsed - datetime.now(UTC)).total_seconds())


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove secrets (and their last characters, which providers echo) from a message."""
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]").replace(secret[-4:], "****")
    return text


def error_fields(exc: BaseException, secrets: Iterable[str]) -> dict[str, Any]:
    """The journal fields that describe a failure."""
    status = getattr(exc, "status_code", None)
    message = redact(f"{type(exc).__name__}: {exc}", secrets)[:500]
    return {"answer": None, "finish_reason": None, "usage": None,
            "error": message, "error_type": type(exc).__name__, "status_code": status}


def clean_text(text: str | None) -> str | None:
    """Text that can be written as UTF-8: a lone surrogate (an emoji cut at max_tokens) becomes
    U+FFFD, and a valid surrogate pair becomes its character."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def completion_fields(body: bytes | str) -> dict[str, Any]:
    """The journal fields of a successful completion, from its raw JSON body.

    A body that is not JSON raises ``json.JSONDecodeError``; one with no usable choice (no
    ``choices``, or not an object where one is due, or content that is not text) raises
    ``BadResponse``. Both are retried as malformed responses.
    """
    try:
        data = json.loads(body)
    except UnicodeDecodeError as exc:
        raise BadResponse(f"the response is not UTF-8 ({exc})") from None
    if not isinstance(data, dict):
        raise BadResponse(f"the response is a JSON {type(data).__name__}, not an object")
    choices = data.get("choices")
    if not choices or not isinstance(choices, list):
        raise BadResponse("the response has no choices")
    choice = choices[0]
    if not isinstance(choice, dict):
        raise BadResponse("the response's first choice is not an object")
    message = choice.get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # content parts: keep their text, in order
        content = "".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    if content is not None and not isinstance(content, str):
        raise BadResponse(f"the answer is a JSON {type(content).__name__}, not text")
    finish = choice.get("finish_reason")
    usage = data.get("usage")
    return {
        "answer": clean_text(content),
        "finish_reason": finish if isinstance(finish, str) else None,
        "usage": usage if isinstance(usage, dict) else None,
        "error": None, "error_type": None, "status_code": 200,
    }


@dataclass
class Sender:
    """Sends requests for one target through one client, with retries and a shared limiter."""

    client: openai.AsyncOpenAI
    limiter: AdaptiveLimiter
    policy: RetryPolicy
    secrets: tuple[str, ...] = field(default=(), repr=False)
    rng: random.Random = field(default_factory=random.Random)

    async def _attempt(self, req: ChatRequest) -> dict[str, Any]:
        # The SDK's documented way to post a raw request: its client, auth, timeouts and
        # status errors, without the per-request TypedDict transform of ``messages`` and the
        # pydantic response model (a third of the client's CPU per request; bench/throughput.py).
        async with self.limiter:
            body = await self.client.post(
                CHAT_COMPLETIONS, cast_to=bytes,
                body={"model": req.model, "messages": list(req.messages), **req.params})
        return completion_fields(body)

    async def send(self, req: ChatRequest) -> Record:
        """Send one request until it succeeds or its retries run out; return its journal record."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                fields = await self._attempt(req)
                self.limiter.on_success()
                break
            except RETRYABLE as exc:
                if attempt > self.policy.max_retries:
                    fields = error_fields(exc, self.secrets)
                    break
                await asyncio.sleep(self._delay(exc, attempt - 1))
            except Exception as exc:  # noqa: BLE001 - a bad response is data, never a crash
                fields = error_fields(exc, self.secrets)
                break
        return make_record(req, fields, attempt, time.monotonic() - started)

    def _delay(self, exc: BaseException, attempt: int) -> float:
        if isinstance(exc, openai.RateLimitError):
            self.limiter.on_rate_limited()
        asked = retry_after(exc)
        if asked is not None:
            return min(asked, self.policy.max_retry_after) + self.rng.uniform(0, 0.1)
        return self.policy.backoff(attempt, self.rng)


def make_record(req: ChatRequest, fields: dict[str, Any], attempts: int, latency: float) -> Record:
    """A journal record: the request's identity, what came back, and how it went."""
    return {
        "request_id": req.request_id, "target": req.target, "model": req.model,
        "prompt_id": req.prompt_id, "sample": req.sample, "messages": list(req.messages),
        "params": req.params, **fields, "attempts": attempts, "latency_s": round(latency, 4),
        "finished_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


async def run_requests(requests: Iterable[ChatRequest], sender: Sender, on_record: OnRecord) -> int:
    """Send requests concurrently (bounded by the sender's limiter); report each as it finishes."""
    async def one(req: ChatRequest) -> None:
        on_record(await sender.send(req))

    pending: set[asyncio.Task[None]] = set()
    count = 0
    try:
        for req in requests:
            if len(pending) >= sender.limiter.maximum * 2:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                _raise_first(done)
            pending.add(asyncio.ensure_future(one(req)))
            count += 1
        if pending:
            done, _ = await asyncio.wait(pending)
            _raise_first(done)
    finally:
        for task in pending:
            task.cancel()
    return count


def _raise_first(done: set[asyncio.Task[None]]) -> None:
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def make_client(base_url: str, api_key: str | None, timeout: float,
                http_client: Any = None) -> openai.AsyncOpenAI:
    """An AsyncOpenAI client with the SDK's own retries off (the Sender retries)."""
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout,
                              max_retries=0, http_client=http_client)


async def preflight(base_url: str, timeout: float = 5.0, http_client: Any = None) -> str | None:
    """None if the endpoint answers HTTP at all; else why it cannot be reached. ``http_client``:
    an ``httpx.AsyncClient`` to ask through (an injected transport), left open."""
    try:
        if http_client is not None:
            await http_client.get(f"{base_url}/models", timeout=timeout)
            return None
        async with httpx.AsyncClient(timeout=timeout) as client:
            await client.get(f"{base_url}/models")
    except httpx.ConnectError as exc:
        return f"cannot connect to {base_url} ({exc})"
    except httpx.TimeoutException:
        return f"{base_url} did not answer within {timeout:g} s"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # e.g. a port that speaks something else than HTTP
        return f"{base_url} does not answer HTTP ({type(exc).__name__}: {exc})"
    return None

