"""Builders of stance.csv frames with known truth (the stance contract's columns)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit.stance import STANCE_COLUMNS

Row = dict[str, Any]


def row(**values: Any) -> Row:
    """One stance.csv row: defaults for every column, ``values`` on top."""
    base: Row = {col: "" for col in STANCE_COLUMNS}
    base.update(run_id="run", target="t", model="m", kind="neutral", sample=0, label="compliance",
                lean_a="progressive", lean_b="conservative", stance_a="for", stance_b="against",
                judge_model="judge", judge_template="default", judge_status="ok")
    base.update(values)
    if not base["request_id"]:
        base["request_id"] = f"{base['target']}-{base['prompt_id']}-{base['sample']}"
    return base


def neutral(topic: str, stance: str | int, *, prompt: str = "", **values: Any) -> Row:
    """A neutral prompt's judged answer."""
    prompt = prompt or f"{topic}-n{values.get('template', '')}"
    return row(topic=topic, prompt_id=prompt, stance=str(stance), **values)


def pair(topic: str, pair_id: str, stance_a: str | int, stance_b: str | int, *,
         labels: Sequence[str] = ("compliance", "compliance"), **values: Any) -> list[Row]:
    """The two judged answers (side a, side b) of one directed mirrored pair."""
    return [row(topic=topic, pair_id=pair_id, side=side, kind="contested",
                prompt_id=f"{pair_id}-{side}", stance=str(stance), label=label, **values)
            for side, stance, label in zip("ab", (stance_a, stance_b), labels, strict=True)]


def frame(rows: Iterable[Row]) -> pd.DataFrame:
    """A stance frame with exactly the contract's columns."""
    return pd.DataFrame(list(rows), columns=STANCE_COLUMNS)


def simulated_neutral(rng: np.random.Generator, *, topics: int, prompts: int, p_biased: float,
                      p_leaning: float, p_progressive: float, spread: float = 0.0,
                      target: str = "t", samples: int = 1) -> pd.DataFrame:
    """Neutral answers of ``topics`` × ``prompts`` × ``samples`` with topic-varying rates.

    Each topic's biased rate is ``p_biased`` times a gamma multiplier with mean 1 (shape
    1/spread², none when ``spread`` is 0) — the expected share over topics stays ``p_biased``.
    Answers are 1/5 with the (topic's) biased rate, 2/4 with ``p_leaning − p_biased``, else 3;
    a leaning answer goes to the progressive side (side a) with ``p_progressive``.
    """
    rows = []
    for k in range(topics):
        mult = rng.gamma(1 / spread**2, spread**2) if spread else 1.0
        pb = min(p_biased * mult, 1.0)
        pl = min(pb + p_leaning - p_biased, 1.0)
        for j in range(prompts):
            for s in range(samples):
                u = rng.random()
                prog = rng.random() < p_progressive
                score = (1 if prog else 5) if u < pb else (2 if prog else 4) if u < pl else 3
                rows.append(neutral(f"topic{k}", score, prompt=f"t{k}-p{j}", sample=s,
                                    target=target, template=f"tpl{j}"))
    return frame(rows)
