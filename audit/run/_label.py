"""Labelling a run: the journal is streamed (each request's chosen record, by offset), each
answer classified, responses.csv written in chunks, and a compact frame kept for statistics."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import ConfigError
from audit.run._human import HumanLabels
from audit.run._plan import RunPlan, write_run_json
from audit.run._responses import (
    PROMPT_COLUMNS,
    RESPONSE_COLUMNS,
    RESPONSES_CSV,
    CompactFrame,
    _chunks,
    _row_frame,
    response_row,
)
from audit.send import _journal as jr
from audit.send._requests import ChatRequest, build_requests

# answers labelled, written and compacted at a time: bounds the label stage's peak memory
# (25,000 peaked 30 MB higher at 1M answers and was no faster: bench/analysis_memory.py)
CHUNK_SIZE = 10_000
ID_WIDTH = 32  # bytes of a request id (``requests.request_id``: 32 hex digits)
_BLOCK = 65_536  # journal records looked up at once in the first pass of ``unique_records``
_NONE = np.iinfo(np.int64).max


def _wanted_ids(plan: RunPlan) -> np.ndarray:
    """The request ids of the run, sorted, as fixed-width bytes (32 B each)."""
    count = -1
    if type(plan).requests is RunPlan.requests:  # stream them: no list of a million requests
        reqs: Iterable[ChatRequest] = build_requests(plan.prompts, plan.config.targets, plan.config.samples)
        count = len(plan.prompts) * len(plan.config.targets) * plan.config.samples
    else:  # a subclass (a shard) chooses its own requests
        reqs = plan.requests()
    ids = np.fromiter((r.request_id.encode("utf-8") for r in reqs), dtype=f"S{ID_WIDTH}", count=count)
    ids.sort()  # in place; a repeated id (identical requests) is harmless: the first copy is used
    return ids


def chosen_offsets(plan: RunPlan) -> np.ndarray:
    """Byte offsets in the journal of the record chosen for each of the run's request ids (the
    first answer, else the first error), ordered by where the id first appears in the journal.

    One streaming pass that keeps three int64 per request, never a record: a million answers
    cost ~56 MB here, whatever their length. The offsets come back as int32 when the journal
    is under 2 GiB (4 bytes per answer, held while labelling).
    """
    wanted = _wanted_ids(plan)
    n = len(wanted)
    first, answer, error = (np.full(n, _NONE, dtype=np.int64) for _ in range(3))

    def flush(ids: list[bytes], offs: list[int], errs: list[bool]) -> None:
        if not ids or not n:
            return
        key = np.array(ids, dtype=f"S{ID_WIDTH}")
        pos = np.minimum(np.searchsorted(wanted, key), n - 1)
        hit = wanted[pos] == key
        pos, off, err = pos[hit], np.array(offs, dtype=np.int64)[hit], np.array(errs, dtype=bool)[hit]
        np.minimum.at(first, pos, off)
        np.minimum.at(answer, pos[~err], off[~err])
        np.minimum.at(error, pos[err], off[err])
        ids.clear()
        offs.clear()
        errs.clear()

    ids: list[bytes] = []
    offs: list[int] = []
    errs: list[bool] = []
    for off, rec in jr.iter_offsets(plan.journal_path):
        rid = rec.get("request_id")
        raw = rid.encode("utf-8") if isinstance(rid, str) else b""
        if len(raw) != ID_WIDTH:  # not one of this run's ids (which are all ID_WIDTH bytes)
            continue
        ids.append(raw)
        offs.append(off)
        errs.append(bool(rec.get("error")))
        if len(ids) >= _BLOCK:
            flush(ids, offs, errs)
    flush(ids, offs, errs)
    seen = first < _NONE
    chosen = np.where(answer < _NONE, answer, error)[seen]
    chosen = chosen[np.argsort(first[seen], kind="stable")]
    return chosen.astype(np.int32) if chosen.max(initial=0) < 2**31 else chosen


def unique_records(plan: RunPlan) -> Iterator[dict[str, Any]]:
    """Journal records of this run's requests, one per request id: the first answer, or the
    first error when every attempt failed (errors are re-sent only with ``--retry-errors``).

    Streams: a first pass notes where each chosen record is (``chosen_offsets``), a second reads
    them back one at a time, in the order the ids first appear in the journal.
    """
    yield from records_at(plan, chosen_offsets(plan))


def records_at(plan: RunPlan, offsets: np.ndarray) -> Iterator[dict[str, Any]]:
    """The journal records at ``offsets`` (from ``chosen_offsets``), one at a time."""
    if len(offsets):
        yield from jr.read_at(plan.journal_path, (int(o) for o in offsets))


def make_run_classifier(plan: RunPlan, judge_key: str | None = None) -> Any:
    """The configured classifier; a judge journals its verdicts in the run folder (resumable)."""
    from audit.classify import make_classifier

    name, judge = plan.config.classifier, plan.config.judge
    if name == "rules":
        return make_classifier("rules")
    if judge is None:
        raise ConfigError(f"classifier '{name}' needs a [judge] table (base_url, model, api_key_env)")
    settings: dict[str, Any] = {"base_url": judge.base_url, "model": judge.model, "api_key": judge_key,
                                "judge_journal": plan.run_dir / "judge.jsonl", "timeout": judge.timeout,
                                "concurrency": judge.concurrency}
    if name == "ensemble":
        settings["threshold"] = judge.threshold
    return make_classifier(name, **settings)


def label_responses(plan: RunPlan, judge_key: str | None = None, *, chunk_size: int = CHUNK_SIZE) -> pd.DataFrame:
    """Label every answer of the journal, write ``responses.csv``, return the compact frame.

    Streams, ``chunk_size`` answers at a time: build the chunk's rows (with prompt and answer
    text), classify them (a judge journals its verdicts as it goes, so an interrupted run
    resumes), append them to responses.csv (written to a temp file, renamed at the end), keep
    only their ``COMPACT_COLUMNS``. Peak memory is one chunk plus ~35 bytes per answer.

    The returned frame has ``COMPACT_COLUMNS`` (every column of responses.csv but the
    free-text ``request_id``, ``prompt``, ``answer``, ``evidence`` and the diagnostics
    ``confidence``, ``latency_s``, ``attempts``; repeated strings as categoricals), one row per answer in the order its request id first appears in the journal
    (as before streaming): what the statistics, comparisons and run.json need. ``write_tables`` does not rewrite responses.csv from it.
    """
    from audit.classify import classify_frame
    from audit.csvio import CsvWriter

    by_id = {p.id: p for p in plan.prompts}
    human = HumanLabels.load(plan.run_dir)  # review --apply's labels override the classifier's
    classifier = make_run_classifier(plan, judge_key)
    try:
        offsets = chosen_offsets(plan)
        compact = CompactFrame(len(offsets), prompt_categories(plan))  # allocated once, for every answer
        rows = (response_row(plan.run_id, rec, by_id[rec["prompt_id"]]) for rec in records_at(plan, offsets))
        with CsvWriter(plan.run_dir / RESPONSES_CSV, RESPONSE_COLUMNS) as out:
            for chunk in _chunks(rows, max(1, chunk_size)):
                labelled = classify_frame(_row_frame(chunk), classifier,
                                          classify_truncated=plan.config.classify_truncated)
                labelled = human.apply(labelled[RESPONSE_COLUMNS])
                out.write(labelled)
                compact.add(labelled)
                del chunk, labelled
    finally:
        close = getattr(classifier, "close", None)
        if callable(close):
            close()
    write_run_json(plan, {"classifier": classifier_info(plan, classifier)})
    human.record(plan)
    return compact.frame()


def prompt_categories(plan: RunPlan) -> dict[str, int]:
    """How many distinct values each prompt column of the run can take (at most)."""
    counts = {col: len({getattr(p, col) for p in plan.prompts}) for col in PROMPT_COLUMNS}
    return {**counts, "prompt_id": len(plan.prompts)}


def classifier_info(plan: RunPlan, classifier: Any) -> dict[str, Any]:
    """run.json's ``classifier``: which one labelled the run and, for a judge or an ensemble, how
    many answers the judge decided (asked now or read from judge.jsonl) and how many it could
    not parse (the rules decided those)."""
    info: dict[str, Any] = {"name": plan.config.classifier}
    judge = getattr(classifier, "judge", classifier if plan.config.classifier == "judge" else None)
    if plan.config.judge is not None and judge is not None:
        info["judge_model"] = plan.config.judge.model
        for key in ("calls", "cached", "unparsed", "failures"):
            info[f"judge_{key}"] = int(getattr(judge, key, 0))
    if hasattr(classifier, "judged"):
        info["to_judge"] = int(classifier.judged)
        info["by_rules"] = int(classifier.by_rules)
    return info
