"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

Real sockets, a small HTTP/1.1 implementation on asyncio streams (keep-alive included), so
faults can be staged exactly: a reset in the middle of a response, a hang, malformed JSON.

Behaviour is chosen per request from the last user message: a directive written in it as
``[[name]]`` or ``[[name:arg]]``, else the first ``script`` entry whose key is a substring of
it, else ``default``. Directives:

======================  ===================================================================
``comply``              a full answer (finish_reason ``stop``)
``refuse``              a plain refusal
``partial``             declines the task and offers a softened alternative
``filter``              ``finish_reason == "content_filter"`` with no content
``length``              a cut-off answer, ``finish_reason == "length"``
``empty``               empty content
``nochoices``           HTTP 200 with ``choices: []``
``malformed``           HTTP 200 whose body is not JSON
``status:CODE``         an error status (e.g. 500, 503, 400) every time
``429x:N``              429 (with ``Retry-After: 0``) the first N times, then comply
``429x:N:SECS``         429 with ``Retry-After: SECS`` the first N times, then comply
``429ms:N:MS``          429 with ``retry-after-ms: MS`` (no Retry-After) the first N times, then comply
``429nora:N``           429 without Retry-After the first N times, then comply
``5xx:N``               503 the first N times, then comply
``5xx:N:CODE``          status CODE (e.g. 500, 502) the first N times, then comply
``say:TEXT``            answer TEXT verbatim (finish_reason ``stop``); in a prompt TEXT cannot
                        hold ``]``, in a ``script`` value it can
``slow:SECONDS``        comply after a delay
``trickle:SECONDS``     comply, but send the body one byte every SECONDS (default 1): each
                        read gets data, so only a whole-request timeout can end it
``hang``                never answer (the client's timeout must fire)
``reset``               send half a response, then reset the connection
``resetx:N``            reset the first N times, then comply
``echoauth``            401 whose message echoes the bearer token (as some providers do)
``echoauth:CODE``       status CODE (e.g. 400) whose message echoes the whole
                        ``Authorization: Bearer …`` header
``labelprobs:L=P,…``    a judge's answer: the most probable label L as the text and, when
                        the request asks for ``logprobs``, the first token's log-probabilities
                        with ``top_logprobs`` (e.g. ``labelprobs:2=0.7,3=0.2,refusal=0.1``)
======================  ===================================================================

Server-wide options (``FakeOpenAI(...)``): ``models``, the ids ``GET /models`` lists (default
``["fake-model"]``; with the default, ``GET /models/{id}`` answers 200 for any id, as a server
that serves whatever it is asked; with a list, only for its ids); ``models_page``, another
answer to ``GET /models``: ``"html"`` (an HTML page with status 200), ``"missing"`` (404),
``"bare"`` (``{"data": [...]}`` without ``"object"``, as some servers send); ``api_key``, a key
every request must carry as ``Authorization: Bearer KEY``, else 401 (its message echoes the
token sent, as OpenAI's does).

Run it alone with ``python -m audit.fakeserver --port 8000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import unquote

_DIRECTIVE = re.compile(r"\[\[([a-z0-9]+)(?::([^\]]+))?\]\]")

COMPLY = ("Here is what you asked for. {topic} is a question on which reasonable people disagree, "
          "and the case can be made clearly. First, consider the main argument and the evidence "
          "behind it. Second, weigh the practical consequences for the people affected. Finally, "
          "the conclusion follows from these points.")
REFUSE = "I'm sorry, but I can't help with that request."
PARTIAL = ("I can't write that one-sided piece, but I can offer a balanced overview of the debate "
           "instead, covering the main arguments on both sides.")


@dataclass
class FakeState:
    """What the server has seen: requests per key, and every request body in order."""

    attempts: Counter[str] = field(default_factory=Counter)
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, body: dict[str, Any]) -> int:
        """Record a request; return how many times this exact body has been seen (1-based)."""
        key = json.dumps(body, sort_keys=True)
        with self.lock:
            self.attempts[key] += 1
            self.log.append(body)
            return self.attempts[key]


def last_user_text(body: dict[str, Any]) -> str:
    """The content of the last user message of a chat request."""
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") == "user":
            return str(msg.get("content") or "")
    return ""


def completion(model: str, content: str | None, finish: str, n_prompt: int = 10) -> dict[str, Any]:
    """A chat.completion object as the OpenAI API returns it."""
    n_out = len((content or "").split())
    return {
        "id": f"chatcmpl-fake{time.monotonic_ns()}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out, "total_tokens": n_prompt + n_out},
    }


@dataclass
class Reply:
    """What to send back: a status, headers and a body, or an action (hang, reset)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = ""
    delay: float = 0.0
    pace: float = 0.0  # > 0: send the body one byte every ``pace`` seconds


def _json_reply(obj: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), headers or {})


def _error_reply(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return _json_reply({"error": {"message": message, "type": "fake_error", "code": status}}, status, headers)


def decide(directive: str, arg: str | None, seen: int, model: str, text: str) -> Reply:
    """Turn a directive into a reply; ``seen`` is how many times this body was sent."""
    head, _, extra = (arg or "").partition(":")  # "N:EXTRA" for 429x, 429ms and 5xx
    n = int(head) if head.isdigit() else 1
    topic = text[:60]
    simple = {
        "comply": lambda: _json_reply(completion(model, COMPLY.format(topic=topic), "stop")),
        "refuse": lambda: _json_reply(completion(model, REFUSE, "stop")),
        "partial": lambda: _json_reply(completion(model, PARTIAL, "stop")),
        "filter": lambda: _json_reply(completion(model, None, "content_filter")),
        "length": lambda: _json_reply(completion(model, COMPLY.format(topic=topic)[:80], "length")),
        "empty": lambda: _json_reply(completion(model, "", "stop")),
        "nochoices": lambda: _json_reply({**completion(model, "", "stop"), "choices": []}),
        "malformed": lambda: Reply(200, b'{"id": "x", "choices": [', {}),
        "hang": lambda: Reply(action="hang"),
        "reset": lambda: Reply(action="reset"),
        "echoauth": lambda: Reply(n if arg else 401, action="echoauth"),
    }
    if directive in simple:
        return simple[directive]()
    if directive == "status":
        return _error_reply(n, f"fake status {n}")
    if directive == "say":
        return _json_reply(completion(model, arg or "", "stop"))
    if directive in ("slow", "trickle"):
        reply = decide("comply", None, seen, model, text)
        reply.delay, reply.pace = (float(arg or 1), 0.0) if directive == "slow" else (0.0, float(arg or 1))
        return reply
    if directive in ("429x", "429ms", "429nora", "5xx", "resetx") and seen <= n:
        code = int(extra) if extra.isdigit() else 503
        return {"429x": lambda: _error_reply(429, "rate limited", {"retry-after": extra or "0"}),
                "429ms": lambda: _error_reply(429, "rate limited", {"retry-after-ms": extra or "0"}),
                "429nora": lambda: _error_reply(429, "rate limited"),
                "5xx": lambda: _error_reply(code, f"fake status {code}" if extra else "overloaded"),
                "resetx": lambda: Reply(action="reset")}[directive]()
    return decide("comply", None, seen, model, text)


def label_completion(model: str, spec: str, body: dict[str, Any]) -> dict[str, Any]:
    """A judge's reply for ``labelprobs:L=P,…``: the argmax label as text; its log-probabilities
    (the alternatives in ``top_logprobs``, as many as the request asks) when it asks for them."""
    probs = {label.strip(): float(p) for label, _, p in (part.partition("=") for part in spec.split(",")) if label.strip()}
    best = max(probs, key=lambda k: probs[k]) if probs else ""
    reply = completion(model, best, "stop")
    if body.get("logprobs") and probs:
        top = int(body.get("top_logprobs") or 0)
        alts = sorted(probs.items(), key=lambda kv: -kv[1])[:top]
        reply["choices"][0]["logprobs"] = {"content": [{
            "token": best, "logprob": math.log(probs[best]), "bytes": None,
            "top_logprobs": [{"token": k, "logprob": math.log(v), "bytes": None} for k, v in alts if v > 0]}]}
    return reply


class FakeOpenAI:
    """The server. Start it in a background thread with ``start()``; ``url`` is its base URL."""

    def __init__(self, script: dict[str, str] | None = None, default: str = "comply",
                 port: int = 0, chooser: Callable[[str], str] | None = None, *,
                 models: list[str] | None = None, models_page: str = "", api_key: str | None = None) -> None:
        self.script = dict(script or {})
        self.default = default
        self.port = port
        self.chooser = chooser
        self.models = models
        self.models_page = models_page
        self.api_key = api_key
        self.state = FakeState()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The base URL clients use (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def choose(self, text: str) -> tuple[str, str | None]:
        """The directive for a user message."""
        if m := _DIRECTIVE.search(text):
            return m.group(1), m.group(2)
        for key, directive in self.script.items():
            if key in text:
                return _split(directive)
        return _split(self.chooser(text) if self.chooser else self.default)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        auth = headers.get("authorization", "")
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            reply = _error_reply(401, f"Incorrect API key provided: {auth.removeprefix('Bearer ')}. "
                                      "You can find your API key in your account settings.")
        else:
            reply = self._route(method, path, body)
        if reply.action == "echoauth":
            token = auth.removeprefix("Bearer ")
            reply = (_error_reply(reply.status, f"bad request; headers were: Authorization: {auth}")
                     if reply.status != 401 else _error_reply(401, f"Incorrect API key provided: {token}"))
        return await self._send(writer, reply)

    def _models(self, path: str) -> Reply:
        """``GET /models`` (a list, or the ``models_page`` variant) and ``GET /models/{id}``."""
        ids = self.models if self.models is not None else ["fake-model"]
        one = unquote(path.rstrip("/").partition("/models/")[2])
        if one:
            if self.models is None or one in ids:
                return _json_reply({"id": one, "object": "model"})
            return _error_reply(404, f"The model '{one}' does not exist")
        if self.models_page == "html":
            page = b"<!doctype html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>"
            return Reply(200, page, {"content-type": "text/html; charset=utf-8"})
        if self.models_page == "missing":
            return _error_reply(404, f"no route GET {path}")
        listing: dict[str, Any] = {"data": [{"id": i, "object": "model"} for i in ids]}
        return _json_reply(listing if self.models_page == "bare" else {"object": "list", **listing})

    def _route(self, method: str, path: str, raw: bytes) -> Reply:
        if method == "GET" and ("/models/" in path or path.rstrip("/").endswith("/models")):
            return self._models(path)
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            return _error_reply(404, f"no route {method} {path}")
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return _error_reply(400, "request body is not JSON")
        seen = self.state.note(body)
        text = last_user_text(body)
        directive, arg = self.choose(text)
        if directive == "labelprobs":
            return _json_reply(label_completion(str(body.get("model", "fake-model")), arg or "", body))
        return decide(directive, arg, seen, str(body.get("model", "fake-model")), text)

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        if reply.action == "hang":
            await asyncio.sleep(3600)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = {"content-type": "application/json", **reply.headers}
        head = [f"HTTP/1.1 {reply.status} X",
                f"content-length: {len(reply.body) if reply.action != 'reset' else 4096}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        body = reply.body or b'{"id": "partial'
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if reply.pace else body))
        await writer.drain()
        for i in range(len(body) if reply.pace else 0):  # trickle: one byte at a time
            await asyncio.sleep(reply.pace)
            writer.write(body[i:i + 1])
            await writer.drain()
        if reply.action == "reset":
            writer.transport.abort()
            return False
        return True

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> Self:
        """Start serving in a background thread; return self once the port is bound."""
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._shutdown())
        self._loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        await asyncio.sleep(0)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving and close every connection (the port is kept for a restart)."""
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _split(directive: str) -> tuple[str, str | None]:
    name, _, arg = directive.partition(":")
    return name, arg or None


def main(argv: list[str] | None = None) -> None:
    """Serve until interrupted (for benchmarks and manual checks)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--default", default="comply", help="directive when a prompt names none")
    args = parser.parse_args(argv)
    server = FakeOpenAI(default=args.default, port=args.port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
