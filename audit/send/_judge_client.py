"""What every LLM judge shares: the client, the journal, the verdict cache, key redaction.

The refusal judge (:mod:`audit.classify`) and the stance judge (:mod:`audit.stance`) each ask an
OpenAI-compatible endpoint and journal every judgement under a content hash, so a judgement made
once is read back, never paid for twice. :class:`JudgeClient` holds that part: the synchronous
client (``max_retries`` retries, then the judge's own error handling), the append-only journal
and the cache loaded from it, a lock around both and the counters, ``concurrency`` calls in
flight at most, and the API key blanked out of any text a judge keeps (some endpoints echo it).
What a judge sends and how it reads the reply stay in the judge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import openai

from audit.send._journal import Journal
from audit.send._runner import redact

__all__ = ["JudgeClient"]

V = TypeVar("V")
T = TypeVar("T")


class JudgeClient(Generic[V]):
    """An OpenAI-compatible judge's client with a journal-backed cache of verdicts of type ``V``.

    ``load(journal, model)`` reads the verdicts already journaled (after the journal is opened,
    which cuts off a torn last line). ``calls``, ``cached`` and ``unparsed`` count for the judge.
    """

    def __init__(self, *, base_url: str, model: str, api_key: str | None, journal: Path | None,
                 load: Callable[[Path | None, str], dict[str, V]], concurrency: int,
                 timeout: float, max_retries: int) -> None:
        """Connect; ``api_key`` is passed in, never read from the environment."""
        self.model = model
        self.concurrency = max(1, concurrency)
        self._api_key = api_key or ""
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "no-key",
                                     timeout=timeout, max_retries=max_retries)
        self._journal = Journal(journal) if journal is not None else None
        self._cache = load(journal, model)
        self._lock = threading.Lock()
        self.calls = self.cached = self.unparsed = 0

    def _known(self, key: str) -> V | None:
        """The cached verdict under ``key`` (counted in ``cached``), or None."""
        with self._lock:
            known = self._cache.get(key)
            if known is not None:
                self.cached += 1
            return known

    def _remember(self, key: str, verdict: V, record: dict[str, Any]) -> None:
        """Cache a verdict and append its journal record."""
        with self._lock:
            self._cache[key] = verdict
            if self._journal is not None:
                self._journal.append(record)

    def _map(self, judge: Callable[[T], V], items: Iterable[T]) -> list[V]:
        """``judge`` on every item, ``concurrency`` at a time, results in order."""
        todo = list(items)
        if self.concurrency == 1 or len(todo) < 2:
            return [judge(i) for i in todo]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(judge, todo))

    def _scrub(self, value: object) -> str:
        """Text with the API key (whatever its length) and echoed credentials blanked out (some
        endpoints echo them in errors)."""
        return redact(str(value), [self._api_key])

    def close(self) -> None:
        """Close the journal and the HTTP client."""
        if self._journal is not None:
            self._journal.close()
        self._client.close()

    def __enter__(self) -> Self:
        """Use as a context manager: closed on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the journal and the client."""
        self.close()
