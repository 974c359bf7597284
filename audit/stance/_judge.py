"""The stance judge: any OpenAI-compatible model, each call journaled by content hash.

A judgement's key is the sha256 of (judge model, template id and text hash, rendered prompt,
request parameters), so resuming a run or re-analysing it never pays for a call twice: a key
found in the journal (``stance.jsonl``) is read back. Judge errors are data: an API failure
after the client's retries gives ``judge_status = "error"`` (not journaled, so a later run asks
again); a reply that names no label or two gives ``"unparsed"`` (journaled: asking again at
temperature 0 would give the same). Neither is ever a stance. Set-up mistakes (a key the
endpoint refuses, a model it does not serve) raise :class:`~audit.errors.ConfigError`.

``logprobs``: ``True`` asks for ``top_logprobs`` (label probabilities p_1..p_5, p_refusal; the
stance is their argmax), ``False`` never does (the text is parsed), ``"auto"`` asks and, if the
endpoint rejects the parameter or returns none, parses the text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import openai

from audit.errors import ConfigError
from audit.send._journal import iter_records
from audit.send._judge_client import JudgeClient
from audit.stance._parse import argmax, label_probabilities, parse_stance
from audit.stance._templates import DEFAULT_TEMPLATE, JudgeTemplate, StanceItem, render

__all__ = ["RAW_CHARS", "StanceJudge", "StanceVerdict", "make_stance_judge", "stance_key", "verdict_fields"]

RAW_CHARS = 200  # judge_raw in stance.csv
_JOURNAL_RAW = 2000
_TOP_LOGPROBS = 10
LogprobsMode = bool | Literal["auto"]


@dataclass(frozen=True)
class StanceVerdict:
    """One judgement: ``stance`` ("1"…"5", "refusal"; empty unless status is ``ok``), the
    label probabilities when the endpoint gave log-probabilities, and the judge's raw text."""

    status: str
    stance: str = ""
    probs: dict[str, float] | None = None
    raw: str = ""
    cached: bool = field(default=False, compare=False)


def stance_key(model: str, template: JudgeTemplate, prompt: str, params: dict[str, Any]) -> str:
    """The content address of one judgement (sha256 of canonical JSON)."""
    blob = json.dumps([model, template.id, template.sha256, prompt, params], ensure_ascii=False,
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _params(logprobs: LogprobsMode, max_tokens: int | None) -> dict[str, Any]:
    """The request parameters that change a judgement (part of its key)."""
    tokens = max_tokens if max_tokens is not None else (2 if logprobs is True else 16)
    return {"temperature": 0, "max_tokens": tokens, "logprobs": logprobs}


class StanceJudge(JudgeClient[StanceVerdict]):
    """Judges answers' stances on an OpenAI-compatible endpoint, journaled by content hash."""

    def __init__(self, *, base_url: str, model: str, api_key: str | None = None,
                 template: JudgeTemplate = DEFAULT_TEMPLATE, journal: Path | None = None,
                 concurrency: int = 4, max_tokens: int | None = None, logprobs: LogprobsMode = "auto",
                 timeout: float = 60.0, max_retries: int = 3, max_answer_chars: int = 12000) -> None:
        """Connect to the judge; ``api_key`` is passed in, never read from the environment."""
        super().__init__(base_url=base_url, model=model, api_key=api_key, journal=journal,
                         load=_load_cache, concurrency=concurrency, timeout=timeout,
                         max_retries=max_retries)
        self.template, self.max_answer_chars = template, max_answer_chars
        self.params = _params(logprobs, max_tokens)
        self._ask_logprobs = logprobs is not False
        self.errors = 0

    def prompt(self, item: StanceItem) -> str:
        """The rendered judge prompt for ``item``."""
        return render(self.template, item, self.max_answer_chars)

    def key(self, item: StanceItem) -> str:
        """The content address of ``item``'s judgement."""
        return stance_key(self.model, self.template, self.prompt(item), self.params)

    def judge(self, item: StanceItem) -> StanceVerdict:
        """One judgement: from the journal if made before, else by asking the judge."""
        prompt = self.prompt(item)
        key = stance_key(self.model, self.template, prompt, self.params)
        known = self._known(key)
        if known is not None:
            return StanceVerdict(known.status, known.stance, known.probs, known.raw, cached=True)
        verdict = self._ask(prompt)
        if verdict.status != "error":
            self._remember(key, verdict, {
                "key": key, "judge_model": self.model, "template": self.template.id,
                "status": verdict.status, "stance": verdict.stance, "probs": verdict.probs,
                "raw": verdict.raw[:_JOURNAL_RAW]})
        return verdict

    def judge_many(self, items: Iterable[StanceItem]) -> list[StanceVerdict]:
        """Judge many answers, ``concurrency`` calls at a time, in order."""
        return self._map(self.judge, items)

    def _ask(self, prompt: str) -> StanceVerdict:
        """Send one prompt; an API failure after retries is an ``error`` verdict."""
        try:
            response = self._request(prompt)
        except openai.APIError as exc:
            with self._lock:
                self.errors += 1
            return StanceVerdict("error", raw=self._scrub(f"{type(exc).__name__}: {exc}")[:RAW_CHARS])
        return self._read(response)

    def _request(self, prompt: str) -> Any:
        """One chat completion (without logprobs from now on if the endpoint rejects them)."""
        messages = [{"role": "user", "content": prompt}]
        base = {"model": self.model, "messages": messages, "temperature": 0,
                "max_tokens": self.params["max_tokens"]}
        try:
            if not self._ask_logprobs:
                return self._create(base)
            try:
                return self._create(base | {"logprobs": True, "top_logprobs": _TOP_LOGPROBS})
            except openai.BadRequestError:
                if self.params["logprobs"] is True:
                    raise
            response = self._create(base)  # "auto": asked again without; if that works, the
            self._ask_logprobs = False     # endpoint has no logprobs: never ask for them again
            return response
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise ConfigError(f"the stance judge refused the key: {self._scrub(exc)} — check "
                              "api_key_env in [stance] (or --judge-api-key-env)") from None
        except openai.NotFoundError as exc:
            raise ConfigError(f"the stance judge has no model {self.model!r}: {self._scrub(exc)} — "
                              "check model in [stance] (or --judge-model)") from None

    def _create(self, kwargs: dict[str, Any]) -> Any:
        """One call (counted in ``calls`` whether it succeeds or not)."""
        with self._lock:
            self.calls += 1
        return self._client.chat.completions.create(**kwargs)

    def _read(self, response: Any) -> StanceVerdict:
        """The verdict in a chat completion."""
        choice = response.choices[0] if getattr(response, "choices", None) else None
        text = self._scrub((choice.message.content or "") if choice is not None else "")
        probs = label_probabilities(getattr(choice, "logprobs", None)) if choice is not None else None
        stance = argmax(probs) if probs is not None else parse_stance(text)
        if stance is None:
            with self._lock:
                self.unparsed += 1
            return StanceVerdict("unparsed", raw=text[:RAW_CHARS])
        return StanceVerdict("ok", stance, probs, text[:RAW_CHARS])


def _load_cache(path: Path | None, model: str) -> dict[str, StanceVerdict]:
    """The judgements already journaled for ``model``, by key."""
    if path is None or not path.exists():
        return {}
    cache: dict[str, StanceVerdict] = {}
    for rec in iter_records(path):
        if rec.get("judge_model") == model and rec.get("status") in ("ok", "unparsed"):
            probs = rec.get("probs")
            cache[str(rec["key"])] = StanceVerdict(str(rec["status"]), str(rec.get("stance") or ""),
                                                   dict(probs) if isinstance(probs, dict) else None,
                                                   str(rec.get("raw") or ""))
    return cache


def make_stance_judge(**settings: Any) -> StanceJudge:
    """Build a stance judge; ``base_url`` and ``model`` are required."""
    missing = [k for k in ("base_url", "model") if not settings.get(k)]
    if missing:
        raise ConfigError(f"the stance judge needs {' and '.join(missing)} — set them in [stance] "
                          "or pass --judge-base-url and --judge-model")
    return StanceJudge(**settings)


def verdict_fields(verdict: StanceVerdict) -> dict[str, Any]:
    """The stance.csv columns of a verdict (p_* empty when unknown)."""
    probs: Sequence[tuple[str, float | None]] = (
        [(k, round(v, 6)) for k, v in verdict.probs.items()] if verdict.probs
        else [(k, None) for k in ("1", "2", "3", "4", "5", "refusal")])
    return {"stance": verdict.stance if verdict.status == "ok" else "",
            **{f"p_{k}": v for k, v in probs}, "judge_status": verdict.status,
            "judge_raw": verdict.raw[:RAW_CHARS]}
