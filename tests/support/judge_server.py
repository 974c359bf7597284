"""``JudgeServer``: a small standard-library OpenAI-compatible server whose reply is computed
from the request, so a test can script a judge's text, its log-probabilities and failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Reply = tuple[int, str, list[dict[str, Any]] | None]
"""HTTP status, the assistant's text (or an error message), log-probabilities (or None)."""

KEY = "sk-test-secret-1234"


def logprobs(tokens: list[tuple[str, float, dict[str, float]]]) -> list[dict[str, Any]]:
    """OpenAI-style token log-probabilities: (token, logprob, {alternative: logprob})."""
    return [{"token": t, "logprob": lp, "bytes": None,
             "top_logprobs": [{"token": a, "logprob": alp, "bytes": None}
                              for a, alp in alts.items()]} for t, lp, alts in tokens]


class JudgeServer:
    """A threaded HTTP server answering POST /v1/chat/completions with ``reply(body)``."""

    def __init__(self, reply: Callable[[dict[str, Any]], Reply]) -> None:
        self.reply = reply
        self.bodies: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                server.bodies.append(body)
                status, text, lps = server.reply(body)
                payload = _completion(text, lps) if status == 200 else \
                    {"error": {"message": text, "type": "test", "code": status}}
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(text: str, lps: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A chat.completion object."""
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "judge",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text},
                         "logprobs": {"content": lps} if lps is not None else None}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def user_text(body: dict[str, Any]) -> str:
    """The user message the judge was sent."""
    return str(body["messages"][-1]["content"])


def by_answer(body: dict[str, Any]) -> Reply:
    """A judge that labels by keywords in the response it is shown."""
    text = user_text(body).split("RESPONSE:")[1]
    label = "refusal" if "decline" in text else "partial_refusal" if "instead" in text \
        else "compliance"
    return 200, json.dumps({"label": label, "reason": f"keyword says {label}"}), None


