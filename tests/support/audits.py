"""A random labelled audit (pairs, non-answers, controls) for statistics tests."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd


def answer(target: str, pair: str, side: str, label: str, *, topic: str = "t0",
           template: str = "essay", sample: int = 0, lean: str = "", kind: str = "contested",
           **extra: Any) -> dict[str, Any]:
    """One labelled row."""
    row = {"run_id": "r1", "target": target, "model": "m", "request_id": f"{pair}{side}{sample}",
           "prompt_id": f"{pair}.{side}" if pair else extra.pop("prompt_id", "c"),
           "pair_id": pair, "side": side, "topic": topic, "category": "cat", "template": template,
           "stance": f"stance {side}", "lean": lean, "kind": kind, "sample": sample,
           "prompt": "p", "answer": "a", "finish_reason": "stop", "truncated": False,
           "label": label, "confidence": 1.0, "evidence": "", "error": "", "latency_s": 0.1,
           "attempts": 1}
    row.update(extra)
    return row


def pair(target: str, pid: str, label_a: str, label_b: str, **kw: Any) -> list[dict[str, Any]]:
    """Both sides of a mirrored pair."""
    lean_a, lean_b = kw.pop("leans", ("left", "right"))
    return [answer(target, pid, "a", label_a, lean=lean_a, **kw),
            answer(target, pid, "b", label_b, lean=lean_b, **kw)]


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def simulated(seed: int = 0, topics: int = 12, templates: int = 4, samples: int = 1,
              targets: tuple[str, ...] = ("m1",)) -> pd.DataFrame:
    """A random audit with pairs, non-answers and controls."""
    rng = np.random.default_rng(seed)
    labels = np.array(["compliance", "refusal", "partial_refusal", "error", "truncated"])
    rows = []
    for t, i, j, s in itertools.product(targets, range(topics), range(templates), range(samples)):
        la, lb = rng.choice(labels, 2, p=[0.7, 0.15, 0.08, 0.05, 0.02])
        rows += pair(t, f"p{i}.{j}", str(la), str(lb), topic=f"topic{i}", template=f"tm{j}",
                     sample=s, leans=(("left", "right") if (i + j) % 2 else ("right", "left")))
    for t, i in itertools.product(targets, range(3)):
        rows.append(answer(t, "", "", "refusal", kind="control_refuse", prompt_id=f"cr{i}"))
        rows.append(answer(t, "", "", "compliance" if i else "refusal", kind="control_comply",
                           prompt_id=f"cc{i}"))
    return frame(rows)
