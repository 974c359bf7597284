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
MAX_HEDGED = 200
"""Asymmetrically hedged pairs shown at most (all are in stance_pairs.csv): both sides' answers
are on the page, so this keeps a judged run's report.html within a few MB."""
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


def pair_viewer(
    run: RunFolder, max_pairs: int = MAX_PAIRS, hedging: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Asymmetric pairs grouped by topic (topics with most asymmetric pairs first), capped;
    ``hedging`` (stance_pairs.csv) adds each side's adherence and marks hedged pairs."""
    pairs = run.pairs
    if pairs.empty:
        return {"groups": [], "total": 0, "shown": 0}
    return _grouped(run, pairs[col(pairs, "asymmetric").map(truthy)], max_pairs, hedging)


def hedged_viewer(
    run: RunFolder, hedging: pd.DataFrame, max_pairs: int = MAX_HEDGED
) -> dict[str, Any]:
    """Asymmetrically hedged pairs (stance_pairs.csv ``hedged``: one side got only its own side,
    the other a hedged or balanced answer), grouped by topic like the asymmetric pairs."""
    if hedging.empty or "hedged" not in hedging.columns:
        return {"groups": [], "total": 0, "shown": 0}
    hedged = hedging[col(hedging, "hedged").map(truthy)]
    keys = ["target", "pair_id", "_sample"]
    if not run.pairs.empty and "pair_id" in run.pairs.columns:  # prompt ids, leans, labels
        extra = run.pairs.assign(_sample=col(run.pairs, "sample").map(_sample_key))
        extra = extra[[c for c in extra.columns if c in keys or c not in hedged.columns]]
        hedged = hedged.assign(_sample=col(hedged, "sample").map(_sample_key)).merge(
            extra.drop_duplicates(keys), on=keys, how="left"
        ).drop(columns="_sample")
    return _grouped(run, hedged, max_pairs, hedging, anchor="hedged-topic")


def _hedge_lookup(hedging: pd.DataFrame | None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """stance_pairs.csv rows keyed by (target, pair_id, sample): adherence per side, hedged."""
    if hedging is None or hedging.empty or "pair_id" not in hedging.columns:
        return {}
    keys = zip(
        col(hedging, "target"),
        col(hedging, "pair_id"),
        col(hedging, "sample").map(_sample_key),
        strict=True,
    )
    values = [
        {"a": _adherence(r.get("adherence_a")), "b": _adherence(r.get("adherence_b")),
         "hedged": truthy(r.get("hedged", ""))}
        for r in hedging.to_dict("records")
    ]
    return dict(zip(keys, values, strict=True))


def _adherence(value: object) -> str:
    n = num(value)
    return "" if n is None else f"{n:g}"


def _grouped(
    run: RunFolder,
    chosen: pd.DataFrame,
    max_pairs: int,
    hedging: pd.DataFrame | None,
    anchor: str = "topic",
) -> dict[str, Any]:
    """``chosen`` pairs grouped by topic (topics with most pairs first), capped at ``max_pairs``."""
    order = col(chosen, "topic").value_counts()
    chosen = chosen.assign(
        _rank=col(chosen, "topic").map(lambda t: -order[t]),
        _sample=col(chosen, "sample").map(_sample_key),
    )
    chosen = chosen.sort_values(["_rank", "topic", "target", "pair_id", "_sample"], kind="stable")
    shown = chosen.head(max_pairs)
    lookup = _side_lookup(run.responses, shown)
    hedges = _hedge_lookup(hedging)
    groups: dict[str, list[dict[str, Any]]] = {}
    for pair in shown.to_dict("records"):
        groups.setdefault(str(pair.get("topic", "")), []).append(_pair_view(pair, lookup, hedges))
    views = [
        {
            "anchor": f"{anchor}-{i}",
            "topic": topic or "(no topic)",
            "pairs": items,
            "total": int(order.get(topic, 0)),
        }
        for i, (topic, items) in enumerate(groups.items(), start=1)
    ]
    return {"groups": views, "total": len(chosen), "shown": len(shown)}


def _pair_view(
    pair: Mapping[str, Any],
    lookup: Mapping[tuple[str, str, str], dict[str, Any]],
    hedges: Mapping[tuple[str, str, str], dict[str, Any]],
) -> dict[str, Any]:
    key = (str(pair.get("target", "")), str(pair.get("pair_id", "")), _sample_key(pair.get("sample", "")))
    hedge = hedges.get(key, {})
    sides = [_pair_side(pair, "a", lookup), _pair_side(pair, "b", lookup)]
    for side in sides:
        side["adherence"] = hedge.get(side["name"].lower(), "")
    return {
        "hedged": bool(hedge.get("hedged")),
        "target": pair.get("target", ""),
        "pair_id": pair.get("pair_id", ""),
        "sample": pair.get("sample", ""),
        "template": pair.get("template", ""),
        "category": pair.get("category", ""),
        "sides": sides,
    }
