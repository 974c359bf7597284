"""Requests: prompt × target × sample → a chat request with a content-hash id.

The id is the SHA-256 of the canonical JSON of the target name, model, messages, sampling
parameters and sample index, so the same request always has the same id and resume can skip
what the journal already holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audit.config import Target
from audit.prompts._schema import Prompt


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to send: what to send, and which prompt and sample it is for."""

    request_id: str
    target: str
    model: str
    messages: tuple[dict[str, str], ...]
    params: dict[str, Any] = field(hash=False)
    prompt_id: str
    sample: int


def canonical_json(obj: object) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_id(target: str, model: str, messages: list[dict[str, str]], params: dict[str, Any], sample: int) -> str:
    """The content hash that identifies a request."""
    body = {"target": target, "model": model, "messages": messages, "params": params, "sample": sample}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()[:32]


def messages_for(prompt: Prompt, target: Target) -> list[dict[str, str]]:
    """The chat messages for one prompt on one target."""
    msgs = [{"role": "system", "content": target.system_prompt}] if target.system_prompt else []
    return msgs + [{"role": "user", "content": prompt.text}]


def sampling_params(target: Target) -> dict[str, Any]:
    """The sampling parameters sent with every request to a target."""
    return {"temperature": target.temperature, "max_tokens": target.max_tokens}


def build_requests(prompts: Iterable[Prompt], targets: Iterable[Target], samples: int = 1) -> Iterator[ChatRequest]:
    """Every request of an audit, target by target, prompt by prompt, sample by sample."""
    for target in targets:
        params = sampling_params(target)
        for prompt in prompts:
            msgs = messages_for(prompt, target)
            for s in range(samples):
                rid = request_id(target.label, target.model, msgs, params, s)
                yield ChatRequest(rid, target.label, target.model, tuple(msgs), params, prompt.id, s)
