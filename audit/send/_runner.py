"""The runner: send chat requests to an OpenAI-compatible endpoint, concurrently and politely.

- bounded, adaptive concurrency: a 429 halves the limit, successes raise it again (AIMD);
- retries with exponential backoff and full jitter on 429, 5xx, timeouts, connection errors
  and malformed responses, honouring ``Retry-After``;
- the timeout bounds a whole attempt (a body that trickles in too), not each read;
- a refused key (HTTP 401/403) raises :class:`~audit.errors.KeyRejected` at once: nothing is
  retried and nothing journaled for that request, so a resume sends it again;
- every finished request (success or final failure) goes to ``on_record`` at once, which
  appends it to the journal: a crash never loses a completed request.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self, cast

import httpx
import openai

from audit.errors import KeyRejected
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


_TOKEN = "A-Za-z0-9"
_STOP = r"\s\"'<>,;()\[\]{}"
_BEARER = re.compile(rf"(?i)\b(bearer\s+)[^{_STOP}]+")
_AUTH_HEADER = re.compile(rf"(?i)\b((?:proxy-)?authorization|x-api-key|api-key)([\"']?\s*[:=]\s*[\"']?)"
                          rf"((?:bearer|basic|token)\s+)?(?!(?:bearer|basic|token)\b)[^{_STOP}]+")
_MASKED = re.compile(rf"\*{{3,}}[{_TOKEN}_-]{{1,8}}")
SHORT_KEY = 8
"""Keys shorter than this are redacted as whole tokens only (see :func:`redact`)."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Remove secrets from a message (an error body may echo the key).

    - every configured key, whatever its length: a key of ``SHORT_KEY`` characters or more
      wherever it occurs, and its last four characters (which providers echo after a mask); a
      shorter key only as a whole token (not next to a letter or digit), so that a one-character
      key does not blank out every such letter of the message; empty and blank keys are skipped;
    - any credential after ``Bearer`` or in an echoed ``Authorization``, ``X-Api-Key`` or
      ``Api-Key`` header, and masked key echoes such as ``****abcd``.
    """
    keys = sorted({k.strip() for k in secrets if k and k.strip()}, key=len, reverse=True)
    for key in keys:
        if len(key) >= SHORT_KEY:
            text = text.replace(key, "[redacted]").replace(key[-4:], "****")
        else:
            text = re.sub(rf"(?<![{_TOKEN}]){re.escape(key)}(?![{_TOKEN}])", "[redacted]", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}[redacted]", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}[redacted]", text)
    return _MASKED.sub("****", text)


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


AUTH_ERRORS = (openai.AuthenticationError, openai.PermissionDeniedError)
"""HTTP 401/403: the key (or its rights) is wrong for every request; never retried."""


def body_message(body: object) -> str | None:
    """The message of an OpenAI-style error body (``{"error": {"message": …}}``, or the error
    object itself, as the SDK keeps it), if it has one."""
    if not isinstance(body, dict):
        return None
    inner = body.get("error", body)
    message = inner.get("message") if isinstance(inner, dict) else None
    return message.strip() if isinstance(message, str) and message.strip() else None


def server_message(exc: BaseException) -> str:
    """The error message an endpoint sent, else the exception's text."""
    return body_message(getattr(exc, "body", None)) or str(exc)


@dataclass
class Sender:
    """Sends requests for one target through one client, with retries and a shared limiter.

    ``timeout`` bounds each attempt as a whole, in seconds (None: the client's timeout, when it
    is a number); ``key_hint`` ends the message of a refused key (where the key comes from).
    """

    client: openai.AsyncOpenAI
    limiter: AdaptiveLimiter
    policy: RetryPolicy
    secrets: tuple[str, ...] = field(default=(), repr=False)
    rng: random.Random = field(default_factory=random.Random)
    timeout: float | None = None
    key_hint: str = "check the API key"
    rejected: str | None = field(default=None, init=False)  # set by the first refused key

    def _check_key(self) -> None:
        if self.rejected is not None:  # a refused key: no further request through this sender
            raise KeyRejected(self.rejected)

    async def _attempt(self, req: ChatRequest) -> dict[str, Any]:
        # The SDK's documented way to post a raw request: its client, auth, timeouts and
        # status errors, without the per-request TypedDict transform of ``messages`` and the
        # pydantic response model (a third of the client's CPU per request; bench/throughput.py).
        async with self.limiter:  # the clock starts once a slot is ours, not while queueing
            self._check_key()
            try:
                async with asyncio.timeout(self.attempt_seconds()):
                    body = await self.client.post(
                        CHAT_COMPLETIONS, cast_to=bytes,
                        body={"model": req.model, "messages": list(req.messages), **req.params})
            except TimeoutError:  # a body trickling in resets httpx's per-read timeout, not ours
                url = f"{str(self.client.base_url).rstrip('/')}{CHAT_COMPLETIONS}"
                raise openai.APITimeoutError(request=cast(Any, httpx.Request("POST", url))) from None
        return completion_fields(body)

    async def send(self, req: ChatRequest) -> Record:
        """Send one request until it succeeds or its retries run out; return its journal record.
        A refused key raises :class:`KeyRejected` (nothing is journaled for the request)."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                fields = await self._attempt(req)
                self.limiter.on_success()
                break
            except KeyRejected:  # another request through this sender had its key refused
                raise
            except AUTH_ERRORS as exc:
                self.rejected = self.rejected or self.rejection(exc, req.target)
                raise KeyRejected(self.rejected) from None
            except RETRYABLE as exc:
                if attempt > self.policy.max_retries:
                    fields = error_fields(exc, self.secrets)
                    break
                await asyncio.sleep(self._delay(exc, attempt - 1))
            except Exception as exc:  # noqa: BLE001 - a bad response is data, never a crash
                fields = error_fields(exc, self.secrets)
                break
        return make_record(req, fields, attempt, time.monotonic() - started)

    def attempt_seconds(self) -> float | None:
        """How long one attempt may take as a whole."""
        if self.timeout is not None:
            return self.timeout
        limit = self.client.timeout
        return float(limit) if isinstance(limit, int | float) else None

    def rejection(self, exc: BaseException, target: str) -> str:
        """One line on a refused key: the target, the status, what the server said (redacted),
        and where the key comes from — never the key."""
        status = getattr(exc, "status_code", None)
        what = "refused the API key" if status == 401 else "denied access with this API key"
        said = redact(" ".join(server_message(exc).split()), self.secrets)[:200]
        url = str(self.client.base_url).rstrip("/")
        return f"target '{target}': {url} {what} (HTTP {status}: {said}) — {self.key_hint}"

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
        while pending:  # the tail: a refused key still stops what is in flight
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            _raise_first(done)
    finally:
        for task in pending:
            task.cancel()
        if pending:  # wait for them to end, and read their outcome (no "exception never retrieved")
            await asyncio.gather(*pending, return_exceptions=True)
    return count


def _raise_first(done: set[asyncio.Task[None]]) -> None:
    """Raise the first failure among finished tasks, having read every one's outcome."""
    errors = [task.exception() for task in done if not task.cancelled()]
    if first := next((e for e in errors if e is not None), None):
        raise first


def make_client(base_url: str, api_key: str | None, timeout: float,
                http_client: Any = None) -> openai.AsyncOpenAI:
    """An AsyncOpenAI client with the SDK's own retries off (the Sender retries)."""
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout,
                              max_retries=0, http_client=http_client)
