"""Streaming labelling: chunked label_responses gives the same files as the old in-memory path.

The oracle below is the pre-streaming implementation (every chosen record kept in a dict, one
DataFrame of every row with its prompt and answer text, responses.csv written from it).
Memory is not asserted here: ``bench/journal_memory.py`` measures it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audit import run as pl
from audit.config import build_config
from audit.send import _journal as jr
from tests.support.prompt_sets import mini_set

FILES = ("summary.csv", "pairs.csv", "topics.csv", "claims.csv", "comparison.csv")
ANSWERS = {
    "comply": "Here is a persuasive essay. Public services need stable funding, and the case is strong.",
    "refuse": "I'm sorry, but I must decline to write that. I won't write one-sided persuasion.",
    "partial": "I can't write a one-sided essay, but I can offer a balanced overview of both sides instead.",
    "formula": "=HYPERLINK(\"http://x\") and then a normal essay follows, ü ✓, with a\nnew line.",
}


# ---------------------------------------------------------------- the old path (oracle)


def old_unique_records(plan: pl.RunPlan) -> Iterator[dict[str, Any]]:
    wanted = {r.request_id for r in plan.requests()}
    best: dict[str, dict[str, Any]] = {}
    for rec in jr.iter_records(plan.journal_path):
        rid = rec.get("request_id")
        if rid in wanted and (rid not in best or (best[rid].get("error") and not rec.get("error"))):
            best[rid] = rec
    yield from best.values()


def old_label_responses(plan: pl.RunPlan) -> pd.DataFrame:
    from audit.classify import classify_frame

    by_id = {p.id: p for p in plan.prompts}
    rows = [pl.response_row(plan.run_id, rec, by_id[rec["prompt_id"]]) for rec in old_unique_records(plan)]
    frame = pd.DataFrame(rows, columns=[c for c in pl.RESPONSE_COLUMNS if c not in pl.VERDICT_COLUMNS])
    labelled = classify_frame(frame, pl.make_run_classifier(plan), classify_truncated=plan.config.classify_truncated)
    return labelled[pl.RESPONSE_COLUMNS]


def old_analysis(plan: pl.RunPlan) -> None:
    from audit.csvio import write_csv

    responses = old_label_responses(plan)
    tables = pl.compute_tables(plan, responses)
    write_csv(responses, plan.run_dir / "responses.csv")
    pl.write_tables(plan, responses, tables)
    pl.write_comparisons(plan, responses)


# ---------------------------------------------------------------- a mixed journal


def record(req: Any, *, answer: str | None = None, finish: str | None = "stop", error: str | None = None,
           attempts: int = 1) -> dict[str, Any]:
    return {"request_id": req.request_id, "target": req.target, "model": req.model, "prompt_id": req.prompt_id,
            "sample": req.sample, "messages": list(req.messages), "params": req.params,
            "answer": None if error else answer, "finish_reason": None if error else finish,
            "usage": None, "error": error, "error_type": "APIError" if error else None,
            "status_code": 500 if error else 200, "attempts": attempts, "latency_s": 0.125 * attempts}


def mixed_run(tmp_path: Path, **extra: Any) -> pl.RunPlan:
    """Two targets × 2 samples over the mini set; every kind of record a real journal holds."""
    prompts = mini_set(tmp_path / "set.jsonl", refuse_b=("guns", "borders"), refuse_both=("energy",))
    targets = [{"base_url": "http://127.0.0.1:9/v1", "model": f"m{i}", "name": f"t{i}",
                "temperature": 0.7} for i in (1, 2)]
    cfg = build_config({"prompts": str(prompts), "targets": targets, "reports_dir": str(tmp_path / "reports"),
                        "samples": 2, **extra})
    plan = pl.plan_run(cfg, run_id="mixed")
    later: list[dict[str, Any]] = []
    with jr.Journal(plan.journal_path) as j:
        for i, req in enumerate(plan.requests()):
            text = next(p.text for p in plan.prompts if p.id == req.prompt_id)
            kind = "refuse" if "[[refuse]]" in text and (i + req.sample) % 5 else "comply"
            if req.target == "t2" and i % 9 == 0:
                kind = "partial"
            answer = f"{ANSWERS[kind]} ({req.prompt_id} #{req.sample})"
            case = i % 11
            if case == 1:  # an error, then the retried answer much later (--retry-errors)
                j.append(record(req, error="HTTP 500: upstream"))
                later.append(record(req, answer=answer, attempts=2))
            elif case == 2:  # every attempt failed
                j.append(record(req, error="HTTP 429: rate limited"))
                later.append(record(req, error="HTTP 429: again", attempts=3))
            elif case == 3:  # truncated
                j.append(record(req, answer=answer[:40], finish="length"))
            elif case == 4:  # an answer, then a duplicate answer and an error: the first answer wins
                j.append(record(req, answer=answer))
                later.append(record(req, answer="A later duplicate that must be ignored."))
                later.append(record(req, error="HTTP 500: after"))
            elif case == 5:
                j.append(record(req, answer="", finish="stop"))
            elif case == 6:
                j.append(record(req, answer=None, finish="content_filter"))
            elif case == 7:
                j.append(record(req, answer=ANSWERS["formula"]))
            else:
                j.append(record(req, answer=answer))
        for rec in later:
            j.append(rec)
        j.append({"request_id": "f" * 32, "target": "t1", "model": "m1", "prompt_id": "nope", "sample": 0,
                  "answer": "a record of another run"})
        j.append({"request_id": "short", "answer": "not an id of this run"})
    with plan.journal_path.open("ab") as fh:
        fh.write(b"\n" + b'{"request_id": "torn')  # a blank line and a torn last line
    return plan


def copy_run(plan: pl.RunPlan, name: str) -> pl.RunPlan:
    dest = plan.run_dir.parent / name
    shutil.copytree(plan.run_dir, dest)
    return pl.resume_plan(dest)


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("chunk_size", [1, 7, 10_000])
def test_streamed_figures_and_responses_are_identical_to_the_in_memory_path(tmp_path: Path, chunk_size: int) -> None:
    plan = mixed_run(tmp_path)
    old, new = copy_run(plan, "old"), copy_run(plan, "new")
    old_analysis(old)
    compact = pl.label_responses(new, chunk_size=chunk_size)
    tables = pl.compute_tables(new, compact)
    pl.record_run(new, compact, tables)

    for name in FILES:
        assert (new.run_dir / name).read_bytes() == (old.run_dir / name).read_bytes(), name
    a = pd.read_csv(old.run_dir / "responses.csv", dtype=str, keep_default_na=False)
    b = pd.read_csv(new.run_dir / "responses.csv", dtype=str, keep_default_na=False)
    assert list(b.columns) == pl.RESPONSE_COLUMNS
    assert sorted(map(tuple, b.to_numpy())) == sorted(map(tuple, a.to_numpy()))
    # same order too (ids in the order they first appear in the journal), so the same bytes
    assert (new.run_dir / "responses.csv").read_bytes() == (old.run_dir / "responses.csv").read_bytes()
    assert not (new.run_dir / "responses.csv.tmp").exists()

    # the mix is really there, and the compact frame carries every label and no free text
    labels = set(b["label"])
    assert {"compliance", "refusal", "partial_refusal", "error", "truncated", "empty", "blocked"} <= labels
    assert b["answer"].str.startswith("'=HYPERLINK").any()
    assert len(compact) == len(b) == len(plan.requests())
    assert list(compact.columns) == pl.COMPACT_COLUMNS
    dropped = {"request_id", "prompt", "answer", "evidence", "confidence", "latency_s", "attempts"}
    assert pl.COMPACT_COLUMNS == [c for c in pl.RESPONSE_COLUMNS if c not in dropped]
    assert compact["sample"].dtype == "int64" and compact["truncated"].dtype == bool
    assert isinstance(compact["label"].dtype, pd.CategoricalDtype)
    assert compact["label"].astype(str).tolist() == b["label"].tolist()
    meta = json.loads((new.run_dir / "run.json").read_text())
    assert meta["answers"] == len(b) and sum(meta["labels"].values()) == len(b)


def test_unique_records_first_answer_else_first_error_without_keeping_records(tmp_path: Path) -> None:
    plan = mixed_run(tmp_path)
    assert list(pl.unique_records(plan)) == list(old_unique_records(plan))
    by_id = {r["request_id"]: r for r in pl.unique_records(plan)}
    assert set(by_id) == {r.request_id for r in plan.requests()}
    retried = [r for r in jr.iter_records(plan.journal_path) if r.get("attempts") == 2]
    assert retried and all(by_id[r["request_id"]] == r for r in retried)
    assert not any(r.get("answer") == "A later duplicate that must be ignored." for r in by_id.values())
    offsets = pl.chosen_offsets(plan)
    assert offsets.dtype.kind == "i" and len(offsets) == len(by_id)


def test_an_empty_journal_gives_a_header_and_an_empty_frame(tmp_path: Path) -> None:
    plan = mixed_run(tmp_path)
    plan.journal_path.write_bytes(b"")
    compact = pl.label_responses(plan, chunk_size=3)
    assert compact.empty and list(compact.columns) == pl.COMPACT_COLUMNS
    assert (plan.run_dir / "responses.csv").read_text().strip() == ",".join(pl.RESPONSE_COLUMNS)


def test_a_compact_frame_does_not_overwrite_the_streamed_responses_csv(tmp_path: Path) -> None:
    plan = mixed_run(tmp_path)
    compact = pl.label_responses(plan, chunk_size=5)
    before = (plan.run_dir / "responses.csv").read_bytes()
    pl.record_run(plan, compact, pl.compute_tables(plan, compact))
    assert (plan.run_dir / "responses.csv").read_bytes() == before
    full = old_label_responses(plan).head(3)  # a caller's full frame is still written, as before
    pl.write_tables(plan, full, pl.compute_tables(plan, full))
    assert len(pd.read_csv(plan.run_dir / "responses.csv")) == 3


def test_a_judge_labels_chunk_by_chunk_and_resumes_from_its_journal(tmp_path: Path) -> None:
    from tests.support.judge_server import KEY, JudgeServer, by_answer

    with JudgeServer(by_answer) as server:
        judge = {"base_url": server.url, "model": "judge-model", "api_key_env": "JUDGE_KEY", "timeout": 10}
        plan = mixed_run(tmp_path, classifier="judge", judge=judge)
        first = pl.label_responses(plan, KEY, chunk_size=4)
        calls = len(server.bodies)
        verdicts = list(jr.iter_records(plan.run_dir / "judge.jsonl"))
        rows = pd.read_csv(plan.run_dir / "responses.csv", dtype=str, keep_default_na=False)
        answers = rows[~rows["label"].isin(["error", "truncated", "empty", "blocked"])]
        assert calls == len(verdicts) == len(set(zip(answers["prompt"], answers["answer"], strict=True))) > 4
        info = json.loads((plan.run_dir / "run.json").read_text())["classifier"]
        assert {k: info[k] for k in ("name", "judge_model", "judge_calls", "judge_unparsed", "judge_failures")} == {
            "name": "judge", "judge_model": "judge-model", "judge_calls": calls, "judge_unparsed": 0,
            "judge_failures": 0}
        judged = calls + info["judge_cached"]  # repeated (prompt, answer) pairs are judged once
        again = pl.label_responses(pl.resume_plan(plan.run_dir), KEY, chunk_size=9)
        assert len(server.bodies) == calls  # every verdict came from judge.jsonl
        resumed = json.loads((plan.run_dir / "run.json").read_text())["classifier"]
        assert resumed["judge_calls"] == 0 and resumed["judge_cached"] == judged
    pd.testing.assert_frame_equal(first.astype(str), again.astype(str))
    assert {"refusal", "compliance"} <= set(first["label"].astype(str))


def test_an_ensemble_run_says_how_many_answers_went_to_the_judge(tmp_path: Path) -> None:
    from tests.support.judge_server import KEY, JudgeServer, by_answer

    with JudgeServer(by_answer) as server:
        judge = {"base_url": server.url, "model": "judge-model", "api_key_env": "JUDGE_KEY", "timeout": 10,
                 "threshold": 0.99}
        plan = mixed_run(tmp_path, classifier="ensemble", judge=judge)
        frame = pl.label_responses(plan, KEY, chunk_size=5)
    info = json.loads((plan.run_dir / "run.json").read_text())["classifier"]
    answers = int(frame["label"].isin(["refusal", "partial_refusal", "compliance"]).sum())
    assert info["name"] == "ensemble" and info["to_judge"] >= 1 and info["judge_calls"] >= 1
    assert info["to_judge"] + info["by_rules"] >= answers
    assert KEY not in (plan.run_dir / "run.json").read_text()


def labelled_frame(n: int, distinct: int) -> pd.DataFrame:
    """A labelled chunk-like frame (``RESPONSE_COLUMNS`` with ``_row_frame``'s dtypes)."""
    import numpy as np

    rng = np.random.default_rng(n)
    frame = pd.DataFrame({c: [f"{c}-{i % distinct}" for i in range(n)] for c in pl.RESPONSE_COLUMNS})
    frame["error"] = [None if i % 3 else f"HTTP {500 + i % 4}" for i in range(n)]
    frame["sample"] = np.arange(n, dtype=np.int64) % 4
    frame["truncated"] = np.arange(n) % 5 == 0
    frame["confidence"] = rng.random(n)
    frame["latency_s"] = rng.random(n)
    frame["attempts"] = pd.array([None if i % 7 == 0 else 1 + i % 3 for i in range(n)], dtype="Int64")
    return frame


@pytest.mark.parametrize(("n", "distinct", "capacity", "size"),
                         [(100, 9, 100, 7), (100, 9, 0, 7), (100, 9, 30, 100), (700, 200, 700, 64),
                          (40_000, 33_000, 40_000, 10_000)])
def test_compact_frame_is_the_chunks_compact_columns(n: int, distinct: int, capacity: int, size: int) -> None:
    # exact capacity (columns allocated once), too small (they grow), codes widened past
    # 127 and 32,767 categories
    frame = labelled_frame(n, distinct)
    compact = pl.CompactFrame(capacity)
    for start in range(0, n, size):
        compact.add(frame.iloc[start:start + size])
    out = compact.frame()
    assert list(out.columns) == pl.COMPACT_COLUMNS and len(out) == compact.rows == n
    assert not {"confidence", "latency_s", "attempts"} & set(out.columns)  # diagnostics stay in the CSV
    for col in pl.COMPACT_COLUMNS:
        want = frame[col]
        if want.dtype == object or pd.api.types.is_string_dtype(want):
            assert isinstance(out[col].dtype, pd.CategoricalDtype), col
            assert list(out[col].cat.categories) == list(want.dropna().unique()), col  # first seen
            cats = len(out[col].cat.categories)
            assert out[col].cat.codes.dtype.itemsize == (1 if cats < 127 else 2 if cats < 32_767 else 4)
            assert [None if pd.isna(v) else v for v in out[col]] == \
                [None if pd.isna(v) else v for v in want], col
        else:
            assert out[col].dtype == want.dtype, col
            pd.testing.assert_series_equal(out[col], want, check_names=False)
