"""The stance stage of a run: after labelling, when ``[stance]`` is configured, judge every
answered contested and neutral prompt and write ``stance.csv`` (issue #16's contract).

Rows judged: every responses.csv row with ``kind`` contested or neutral whose label (the refusal
classifier's) is an answer label. The topic's two sides: a neutral prompt's ``meta.sides``; a
contested prompt's pair (its a and b prompts' stance and lean). Judge calls are journaled in
the run folder's ``stance.jsonl`` (content-addressed): a resumed or re-analysed run asks again
only for what it has not judged, or what failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from audit.classify import ANSWER_LABELS
from audit.config import StanceSettings
from audit.prompts import Prompt, neutral_sides
from audit.run._plan import RunPlan, write_run_json
from audit.run._responses import RESPONSES_CSV
from audit.stance._judge import StanceJudge, make_stance_judge, verdict_fields
from audit.stance._labels import STANCE_COLUMNS, STANCE_CSV, STANCE_JOURNAL
from audit.stance._templates import StanceItem, load_template

__all__ = ["judge_stances", "stance_sides"]

KINDS = ("contested", "neutral")
_READ = ["run_id", "target", "model", "request_id", "prompt_id", "pair_id", "side", "topic", "category",
         "template", "stance", "kind", "sample", "answer", "label"]
CHUNK = 2000


def stance_sides(prompts: tuple[Prompt, ...] | list[Prompt]) -> dict[str, dict[str, str]]:
    """Prompt id → the topic's sides (stance_a, stance_b, lean_a, lean_b) for every contested
    prompt with both sides of its pair in the set and every neutral prompt with meta.sides."""
    pairs: dict[str, dict[str, Prompt]] = {}
    for p in prompts:
        if p.kind == "contested" and p.pair_id and p.side:
            pairs.setdefault(p.pair_id, {})[p.side] = p
    out: dict[str, dict[str, str]] = {}
    for p in prompts:
        if p.kind == "neutral" and (sides := neutral_sides(p)):
            out[p.id] = {"stance_a": sides["a"]["stance"], "stance_b": sides["b"]["stance"],
                         "lean_a": sides["a"]["lean"], "lean_b": sides["b"]["lean"]}
        elif p.kind == "contested" and len(pair := pairs.get(p.pair_id or "", {})) == 2:
            out[p.id] = {"stance_a": pair["a"].stance, "stance_b": pair["b"].stance,
                         "lean_a": pair["a"].lean or "", "lean_b": pair["b"].lean or ""}
    return out


def _chunks(plan: RunPlan, responses: pd.DataFrame | None) -> Iterator[pd.DataFrame]:
    """The rows to judge (answered contested/neutral prompts), ``CHUNK`` at a time: from
    ``responses`` when it holds the answers, else streamed from the run's responses.csv."""
    from audit.csvio import restore_frame

    if responses is not None and {"answer", "request_id"} <= set(responses.columns):
        frame = responses[[c for c in _READ if c in responses.columns]].astype(object)
        parts: Iterable[pd.DataFrame] = [frame.where(frame.notna(), "").astype(str)]
    else:
        parts = (restore_frame(c) for c in pd.read_csv(
            plan.run_dir / RESPONSES_CSV, dtype=str, keep_default_na=False, usecols=_READ,
            encoding="utf-8", chunksize=CHUNK * 10))
    for part in parts:
        keep = part[part["kind"].isin(KINDS) & part["label"].isin(ANSWER_LABELS)]
        for start in range(0, len(keep), CHUNK):
            yield keep.iloc[start:start + CHUNK]


def _item(row: Mapping[str, Any], sides: Mapping[str, str]) -> StanceItem:
    topic = str(row["topic"]).replace("_", " ")
    asked = str(row["stance"]) if row["kind"] == "contested" and row["stance"] else topic
    return StanceItem(str(row["answer"]), sides["stance_a"], sides["stance_b"], topic, asked)


def _judged(judge: StanceJudge, part: pd.DataFrame, sides: Mapping[str, Mapping[str, str]],
            settings: StanceSettings) -> pd.DataFrame:
    """The stance.csv rows of one chunk of answers (those whose topic sides are known)."""
    records = part[part["prompt_id"].isin(sides)].to_dict("records")
    verdicts = judge.judge_many(_item(r, sides[r["prompt_id"]]) for r in records)
    rows = [{**r, **sides[r["prompt_id"]], **verdict_fields(v), "judge_model": settings.model,
             "judge_template": judge.template.id} for r, v in zip(records, verdicts, strict=True)]
    out = pd.DataFrame(rows, columns=STANCE_COLUMNS)
    out.loc[out["kind"] == "neutral", ["pair_id", "side"]] = ""
    return out


def judge_stances(plan: RunPlan, responses: pd.DataFrame | None = None, api_key: str | None = None,
                  ) -> pd.DataFrame | None:
    """Judge the run's answers' stances and write stance.csv; None (nothing written) when the
    run has no ``[stance]`` table. ``api_key``: default from the variable ``api_key_env`` names."""
    from audit.csvio import CsvWriter

    settings = plan.config.stance
    if settings is None:
        return None
    template = load_template(settings.template, Path(settings.template_file) if settings.template_file else None)
    key = api_key if api_key is not None else os.environ.get(settings.api_key_env) or None
    sides = stance_sides(plan.prompts)
    judge = make_stance_judge(base_url=settings.base_url, model=settings.model, api_key=key, template=template,
                              journal=plan.run_dir / STANCE_JOURNAL, concurrency=settings.concurrency,
                              max_tokens=settings.max_tokens, logprobs=settings.logprobs,
                              timeout=settings.timeout)
    parts: list[pd.DataFrame] = []
    try:
        with CsvWriter(plan.run_dir / STANCE_CSV, STANCE_COLUMNS) as out:
            for chunk in _chunks(plan, responses):
                part = _judged(judge, chunk, sides, settings)
                out.write(part)
                parts.append(part.drop(columns=["judge_raw"]))
    finally:
        judge.close()
    result = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=STANCE_COLUMNS)
    write_run_json(plan, {"stance": {"judge_model": settings.model, "template": template.id,
                                     "judged": len(result), "calls": judge.calls, "cached": judge.cached,
                                     "errors": judge.errors, "unparsed": judge.unparsed}})
    return result
