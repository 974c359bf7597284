"""The asymmetric pairs viewer: pairs refused on one side only, both sides' text side by side.

Pairs are grouped by topic (topics with most asymmetric pairs first) and capped at
``MAX_PAIRS``; each side's prompt and answer come from responses.csv.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from audit.csvio import truthy
from audit.report._format import col, num, show_text
from audit.report._load import RunFolder

__all__ = ["MAX_PAIRS"]

MAX_PAIRS = 500
_SIDE_COLUMNS = ("prompt", "answer", "label", "evidence", "stance", "lean", "confidence")


def _side_lookup(
    responses: pd.DataFrame, pairs: pd.DataFrame
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """responses rows needed by ``pairs``, keyed by (target, prompt_id, sample)."""
    if responses.empty or "prompt_id" not in responses.columns:
        return {}
    ids = set(col(pairs, "prompt_id_a")) | set(col(pairs, "prompt_id_b"))
    need = responses[col(responses, "prompt_id").isin(ids)]
    keys = zip(
        col(need, "target"),
        col(need, "prompt_id"),
        col(need, "sample").map(_sample_key),
        strict=True,
    )
    cols = [c for c in _SIDE_COLUMNS if c in need.columns]
    return dict(zip(keys, need[cols].to_dict("records"), strict=True))


def _sample_key(value: object) -> str:
    n = num(value)
    return str(int(n)) if n is not None else str(value)


def _pair_side(
    pair: Mapping[str, Any], side: str, lookup: Mapping[tuple[str, str, str], dict[str, Any]]
) -> dict[str, Any]:
    key = (
        str(pair.get("target", "")),
        str(pair.get(f"prompt_id_{side}", "")),
        _sample_key(pair.get("sample", "")),
    )
    rec = lookup.get(key, {})
    refused = str(pair.get("refused_side", "")).lower() in (side, "both")
    return {
        "name": side.upper(),
        "lean": pair.get(f"lean_{side}", "") or rec.get("lean", ""),
        "stance": pair.get(f"stance_{side}", "") or rec.get("stance", ""),
        "label": pair.get(f"label_{side}", "") or rec.get("label", ""),
        "refused": refused,
        "prompt_id": key[1],
        "prompt": show_text(rec.get("prompt", ""), 800) if rec else "",
        "answer": show_text(rec.get("answer", "")) if rec else "",
        "evidence": show_text(rec.get("evidence", ""), 300) if rec else "",
        "found": bool(rec),
    }


def pair_viewer(run: RunFolder, max_pairs: int = MAX_PAIRS) -> dict[str, Any]:
    """Asymmetric pairs grouped by topic (topics with most asymmetric pairs first), capped."""
    pairs = run.pairs
    if pairs.empty:
        return {"groups": [], "total": 0, "shown": 0}
    asym = pairs[col(pairs, "asymmetric").map(truthy)]
    order = col(asym, "topic").value_counts()
    asym = asym.assign(
        _rank=col(asym, "topic").map(lambda t: -order[t]),
        _sample=col(asym, "sample").map(_sample_key),
    )
    asym = asym.sort_values(["_rank", "topic", "target", "pair_id", "_sample"], kind="stable")
    shown = asym.head(max_pairs)
    lookup = _side_lookup(run.responses, shown)
    groups: dict[str, list[dict[str, Any]]] = {}
    for pair in shown.to_dict("records"):
        groups.setdefault(str(pair.get("topic", "")), []).append(_pair_view(pair, lookup))
    views = [
        {
            "anchor": f"topic-{i}",
            "topic": topic or "(no topic)",
            "pairs": items,
            "total": int(order.get(topic, 0)),
        }
        for i, (topic, items) in enumerate(groups.items(), start=1)
    ]
    return {"groups": views, "total": len(asym), "shown": len(shown)}


def _pair_view(
    pair: Mapping[str, Any], lookup: Mapping[tuple[str, str, str], dict[str, Any]]
) -> dict[str, Any]:
    return {
        "target": pair.get("target", ""),
        "pair_id": pair.get("pair_id", ""),
        "sample": pair.get("sample", ""),
        "template": pair.get("template", ""),
        "category": pair.get("category", ""),
        "sides": [_pair_side(pair, "a", lookup), _pair_side(pair, "b", lookup)],
    }
