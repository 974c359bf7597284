"""The runner against a real HTTP server on 127.0.0.1: every fault ends as data, nothing twice."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from audit.fakeserver import FakeOpenAI
from audit.send._requests import ChatRequest, request_id
from audit.send._runner import (
    RETRYABLE,
    AdaptiveLimiter,
    BadResponse,
    RetryPolicy,
    Sender,
    completion_fields,
    make_client,
    redact,
    run_requests,
)

FAST = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)


def req(i: int, directive: str) -> ChatRequest:
    msgs = ({"role": "user", "content": f"question {i} [[{directive}]]"},)
    return ChatRequest(f"r{i}", "t", "m", msgs, {"max_tokens": 10}, f"p{i}", 0)


def run(server: FakeOpenAI, directives: list[str], timeout: float = 2.0, concurrency: int = 8,
        key: str | None = None) -> dict[str, dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        client = make_client(server.url, key, timeout)
        sender = Sender(client, AdaptiveLimiter(concurrency), FAST, (key,) if key else ())
        out: list[dict[str, Any]] = []
        await run_requests([req(i, d) for i, d in enumerate(directives)], sender, out.append)
        await client.close()
        return out

    return {r["messages"][0]["content"].split("[[")[1][:-2]: r for r in asyncio.run(go())}


@pytest.mark.parametrize("directive,finish,error_type,attempts", [
    ("comply", "stop", None, 1),
    ("filter", "content_filter", None, 1),
    ("length", "length", None, 1),
    ("empty", "stop", None, 1),
    ("429x:2", "stop", None, 3),
    ("429nora:1", "stop", None, 2),
    ("5xx:2", "stop", None, 3),
    ("resetx:1", "stop", None, 2),
    ("status:400", None, "BadRequestError", 1),
    ("status:500", None, "InternalServerError", 4),
    ("status:502", None, "InternalServerError", 4),
    ("nochoices", None, "BadResponse", 4),
    ("malformed", None, "JSONDecodeError", 4),
    ("reset", None, "APIConnectionError", 4),
])
def test_each_fault_is_recorded_as_what_it_is(fake_server: FakeOpenAI, directive: str, finish: str | None,
                                              error_type: str | None, attempts: int) -> None:
    rec = run(fake_server, [directive])[directive]
    assert rec["finish_reason"] == finish
    assert rec["error_type"] == error_type
    assert rec["attempts"] == attempts
    assert (rec["error"] is None) == (error_type is None)


def test_a_hanging_server_times_out_and_is_an_error(fake_server: FakeOpenAI) -> None:
    rec = run(fake_server, ["hang"], timeout=0.3)["hang"]
    assert rec["error_type"] == "APITimeoutError"


def test_nothing_is_sent_twice_after_success(fake_server: FakeOpenAI) -> None:
    out = run(fake_server, ["comply"] * 1 + ["refuse", "partial"])
    assert len(out) == 3
    assert len(fake_server.state.log) == 3


def test_sustained_429_halves_the_concurrency_limit(fake_server: FakeOpenAI) -> None:
    async def go() -> AdaptiveLimiter:
        limiter = AdaptiveLimiter(16)
        client = make_client(fake_server.url, None, 2.0)
        sender = Sender(client, limiter, FAST)
        await run_requests([req(i, "429x:2") for i in range(16)], sender, lambda r: None)
        await client.close()
        return limiter

    limiter = asyncio.run(go())
    assert limiter.throttled >= 16
    assert limiter.limit < 16


def test_the_key_never_reaches_an_error_message() -> None:
    key = "sk-test-DISTINCTIVE-1234567890abcd"
    text = f"Incorrect API key provided: {key}. Also ****abcd? {key[-4:]}"
    assert key not in redact(text, [key]) and "abcd" not in redact(text, [key])


def test_request_id_is_a_stable_content_hash() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    a = request_id("t", "m", msgs, {"temperature": 0, "max_tokens": 5}, 0)
    assert a == request_id("t", "m", msgs, {"max_tokens": 5, "temperature": 0}, 0)
    assert a != request_id("t", "m", msgs, {"temperature": 0, "max_tokens": 5}, 1)
    assert a != request_id("t", "m2", msgs, {"temperature": 0, "max_tokens": 5}, 0)


def test_a_cut_emoji_is_kept_as_writable_text() -> None:
    from audit.send._runner import clean_text

    assert clean_text("cut emoji \ud83d") == "cut emoji \ufffd"
    assert clean_text("pair \ud83d\ude00") == "pair 😀" and clean_text(None) is None


@pytest.mark.parametrize("value,expected", [("3", 3.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 -0000", 0.0),
                                            ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_odd_retry_after_headers_never_crash(value: str, expected: float | None) -> None:
    import httpx

    from audit.send._runner import retry_after

    exc = Exception()
    exc.response = httpx.Response(429, headers={"retry-after": value})  # type: ignore[attr-defined]
    assert retry_after(exc) == expected


def test_the_limiter_wakes_waiters_first_in_first_out_and_never_leaks_a_slot() -> None:
    async def go() -> None:
        limiter = AdaptiveLimiter(2)
        order: list[int] = []
        gates = [asyncio.Event() for _ in range(6)]

        async def one(i: int) -> None:
            async with limiter:
                order.append(i)
                assert limiter.in_flight <= limiter.limit
                await gates[i].wait()

        tasks = [asyncio.create_task(one(i)) for i in range(6)]
        await asyncio.sleep(0)
        assert order == [0, 1] and limiter.in_flight == 2
        tasks[2].cancel()  # cancelled while waiting: it leaves the queue, takes no slot
        await asyncio.sleep(0)
        gates[0].set()
        gates[1].set()
        await asyncio.sleep(0.01)
        assert order == [0, 1, 3, 4]  # first in, first out; 2 never ran
        tasks[3].cancel()  # cancelled while holding a slot: the slot comes back
        gates[4].set()
        await asyncio.sleep(0.01)
        assert order == [0, 1, 3, 4, 5]
        gates[5].set()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert limiter.in_flight == 0 and not limiter._waiters

    asyncio.run(go())


def test_a_slot_granted_to_a_waiter_that_is_cancelled_at_once_is_given_back() -> None:
    async def go() -> None:
        limiter = AdaptiveLimiter(1)
        await limiter.__aenter__()
        waiter = asyncio.create_task(limiter.__aenter__())
        await asyncio.sleep(0)
        await limiter.__aexit__()  # grants the slot to the waiter ...
        waiter.cancel()  # ... which is cancelled before it runs
        await asyncio.gather(waiter, return_exceptions=True)
        assert limiter.in_flight == 0
        async with limiter:
            assert limiter.in_flight == 1

    asyncio.run(go())


def test_a_limit_that_grows_back_wakes_the_waiters_it_admits() -> None:
    async def go() -> None:
        limiter = AdaptiveLimiter(2)
        limiter.on_rate_limited()
        assert limiter.limit == 1
        await limiter.__aenter__()
        waiter = asyncio.create_task(limiter.__aenter__())
        await asyncio.sleep(0)
        assert not waiter.done()
        limiter.on_success()  # one success at limit 1 grows it to 2: the waiter is admitted
        await asyncio.wait_for(waiter, 1)
        assert limiter.limit == 2 and limiter.in_flight == 2

    asyncio.run(go())


@pytest.mark.parametrize("directive,low,high", [
    ("429x:2:1", 2.0, 4.0),  # Retry-After: 1, twice: at least 2 s, though FAST backs off <= 0.05 s
    ("429ms:2:400", 0.8, 2.0),  # retry-after-ms: 400, twice
])
def test_retry_after_is_honoured(fake_server: FakeOpenAI, directive: str, low: float, high: float) -> None:
    rec = run(fake_server, [directive])[directive]
    assert rec["error"] is None and rec["finish_reason"] == "stop"
    assert rec["attempts"] == 3
    assert low <= rec["latency_s"] < high, rec["latency_s"]
    assert len(fake_server.state.log) == 3


def test_the_request_body_is_the_chat_completions_body(fake_server: FakeOpenAI) -> None:
    """The runner posts through the SDK's raw ``post``: the body must be what ``create`` sends."""
    run(fake_server, ["comply"])
    assert fake_server.state.log == [{"model": "m", "messages": [
        {"role": "user", "content": "question 0 [[comply]]"}], "max_tokens": 10}]


@pytest.mark.parametrize("body,answer,finish", [
    (b'{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}', "hi", "stop"),
    (b'{"choices":[{"message":null,"finish_reason":"content_filter"}]}', None, "content_filter"),
    (b'{"choices":[{"message":{"content":null},"finish_reason":"content_filter"}]}', None, "content_filter"),
    (b'{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}]}',
     "ab", None),
    (b'{"choices":[{"message":{"content":"caf\\u00e9 \\ud83d"},"finish_reason":"length"}]}',
     "café \ufffd", "length"),
])
def test_completion_bodies_become_journal_fields(body: bytes, answer: str | None, finish: str | None) -> None:
    fields = completion_fields(body)
    assert (fields["answer"], fields["finish_reason"], fields["error"]) == (answer, finish, None)


@pytest.mark.parametrize("body,error", [
    (b"{not json", json.JSONDecodeError),
    (b'{"a": "\xc3\x28"}', BadResponse),
    (b"[1, 2]", BadResponse),
    (b'{"choices": []}', BadResponse),
    (b'{"choices": {"0": 1}}', BadResponse),
    (b'{"choices": ["text"]}', BadResponse),
    (b'{"choices": [{"message": {"content": 42}}]}', BadResponse),
])
def test_unusable_completion_bodies_are_malformed_responses(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        completion_fields(body)
    assert issubclass(error, RETRYABLE)


def test_a_body_that_trickles_in_is_bounded_by_the_timeout(fake_server: FakeOpenAI) -> None:
    """Each read gets a byte (every 0.1 s, ~0.5 KB: about a minute), so httpx's per-read timeout
    never fires; the Sender's timeout bounds the whole attempt and it counts as a timeout."""
    rec = run(fake_server, ["trickle:0.1"], timeout=0.5)["trickle:0.1"]
    assert rec["error_type"] == "APITimeoutError" and rec["attempts"] == FAST.max_retries + 1
    assert rec["latency_s"] < 0.5 * (FAST.max_retries + 1) + 1.0


def test_a_slow_but_steady_answer_within_the_timeout_is_kept(fake_server: FakeOpenAI) -> None:
    rec = run(fake_server, ["trickle:0.001"], timeout=5.0)["trickle:0.001"]
    assert rec["error"] is None and rec["finish_reason"] == "stop" and rec["attempts"] == 1


REFUSED = "refused the API key (HTTP 401: Incorrect API key provided: [redacted])"


@pytest.mark.parametrize("directive,what", [("echoauth", REFUSED),
                                            ("status:403", "denied access with this API key (HTTP 403: fake status 403)")])
def test_a_refused_key_raises_at_once_and_journals_nothing(fake_server: FakeOpenAI, directive: str, what: str) -> None:
    from audit.errors import KeyRejected

    with pytest.raises(KeyRejected) as caught:
        run(fake_server, [directive, "comply"], concurrency=1, key="hunter2")
    assert f"target 't': {fake_server.url} {what} — check the API key" == str(caught.value)
    assert len(fake_server.state.log) == 1  # not retried; the request queued behind it is not sent


@pytest.mark.parametrize("text,keys,expected", [
    ("Incorrect API key provided: hunter2.", ["hunter2"], "Incorrect API key provided: [redacted]."),
    ("key 'x' is wrong; x-ray and 401 stay", ["x"], "key '[redacted]' is wrong; [redacted]-ray and 401 stay"),
    ("code 401: bad key 4", ["4"], "code 401: bad key [redacted]"),  # a whole token only: 401 stays
    ("nothing to hide", ["", "   ", None], "nothing to hide"),  # empty and blank keys are skipped
    ("got ' hunter2 '", [" hunter2 "], "got ' [redacted] '"),  # the key as sent (stripped)
    ("headers: Authorization: Bearer sk-other-key", [], "headers: Authorization: Bearer [redacted]"),
    ('{"authorization": "Basic dXNlcjpwYXNz"}', [], '{"authorization": "Basic [redacted]"}'),
    ("x-api-key: abc123, next", [], "x-api-key: [redacted], next"),
    ("sent Bearer abc.def", [], "sent Bearer [redacted]"),
    ("masked sk-****************wxyz", [], "masked sk-****"),
])
def test_redact_removes_keys_of_any_length_and_echoed_credentials(text: str, keys: list[str | None],
                                                                  expected: str) -> None:
    assert redact(text, keys) == expected


def test_fake_server_trickle_directive_paces_the_body() -> None:
    from audit.fakeserver import decide

    reply = decide("trickle", "0.25", 1, "m", "text")
    assert reply.pace == 0.25 and reply.delay == 0 and json.loads(reply.body)["choices"]
