"""Sending: chat requests with content-hash ids, the async runner on openai.AsyncOpenAI, the append-only journal.

Public names are re-exported here and imported on first use (importing the package stays
cheap); the modules inside are private.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audit._lazy import lazy_exports

_EXPORTS = {
    "JOURNAL_NAME": "_journal",
    "Journal": "_journal",
    "done_ids": "_journal",
    "iter_offsets": "_journal",
    "iter_records": "_journal",
    "read_at": "_journal",
    "repair": "_journal",
    "JudgeClient": "_judge_client",
    "ChatRequest": "_requests",
    "build_requests": "_requests",
    "canonical_json": "_requests",
    "messages_for": "_requests",
    "request_id": "_requests",
    "sampling_params": "_requests",
    "AdaptiveLimiter": "_runner",
    "BadResponse": "_runner",
    "CHAT_COMPLETIONS": "_runner",
    "RETRYABLE": "_runner",
    "RetryPolicy": "_runner",
    "Sender": "_runner",
    "clean_text": "_runner",
    "completion_fields": "_runner",
    "error_fields": "_runner",
    "make_client": "_runner",
    "make_record": "_runner",
    "preflight": "_preflight",
    "redact": "_runner",
    "retry_after": "_runner",
    "run_requests": "_runner",
}
__all__ = [
    "CHAT_COMPLETIONS",
    "JOURNAL_NAME",
    "RETRYABLE",
    "AdaptiveLimiter",
    "BadResponse",
    "ChatRequest",
    "Journal",
    "JudgeClient",
    "RetryPolicy",
    "Sender",
    "build_requests",
    "canonical_json",
    "clean_text",
    "completion_fields",
    "done_ids",
    "error_fields",
    "iter_offsets",
    "iter_records",
    "make_client",
    "make_record",
    "messages_for",
    "preflight",
    "read_at",
    "redact",
    "repair",
    "request_id",
    "retry_after",
    "run_requests",
    "sampling_params",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from audit.send._journal import (
        JOURNAL_NAME,
        Journal,
        done_ids,
        iter_offsets,
        iter_records,
        read_at,
        repair,
    )
    from audit.send._judge_client import JudgeClient
    from audit.send._preflight import preflight
    from audit.send._requests import (
        ChatRequest,
        build_requests,
        canonical_json,
        messages_for,
        request_id,
        sampling_params,
    )
    from audit.send._runner import (
        CHAT_COMPLETIONS,
        RETRYABLE,
        AdaptiveLimiter,
        BadResponse,
        RetryPolicy,
        Sender,
        clean_text,
        completion_fields,
        error_fields,
        make_client,
        make_record,
        redact,
        retry_after,
        run_requests,
    )
