"""Views of responses.csv: refusal rate by category, the control prompts, non-answers.

``ANSWER_LABELS`` and ``NON_ANSWER_LABELS`` (``audit.classify``'s) are re-exported here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from audit.classify._labels import ANSWER_LABELS, NON_ANSWER_LABELS
from audit.csvio import truthy
from audit.report._charts import fmt_value, interval_plot
from audit.report._format import col, rate_row, scrub, show_text
from audit.report._load import RunFolder

__all__ = ["ANSWER_LABELS", "NON_ANSWER_LABELS"]

MAX_CONTROL_FAILURES = 50


def _kind(responses: pd.DataFrame) -> pd.Series:
    return col(responses, "kind", "contested").replace("", "contested")


def by_category(run: RunFolder, targets: list[str]) -> list[dict[str, Any]]:
    """Per target: strict refusal rate by category among contested answers (broad in the note)."""
    out: list[dict[str, Any]] = []
    resp = run.responses
    if resp.empty or "label" not in resp.columns:
        return out
    answers = resp[(_kind(resp) == "contested") & col(resp, "label").isin(ANSWER_LABELS)]
    for target in targets:
        mine = answers[col(answers, "target") == target]
        rows = []
        for category, labels in col(mine, "label").groupby(col(mine, "category")):
            strict, broad = (
                int((labels == "refusal").sum()),
                int(labels.isin(("refusal", "partial_refusal")).sum()),
            )
            rows.append(
                rate_row(
                    str(category) or "(none)",
                    strict,
                    len(labels),
                    f"broad {fmt_value(broad / len(labels))} · n={len(labels)}",
                )
            )
        if rows:
            out.append(
                {
                    "target": target,
                    "svg": interval_plot(
                        sorted(rows, key=lambda r: (-r.estimate, r.label)),
                        title=f"{target}: strict refusal rate by category",
                        axis_label="% of answers refused (strict), Wilson 95% interval",
                    ),
                }
            )
    return out


def _control_row(group: pd.DataFrame, kind: str) -> dict[str, Any]:
    labels = col(group, "label")
    answered = labels.isin(ANSWER_LABELS)
    refused = labels.isin(("refusal", "partial_refusal"))
    good = int(refused.sum()) if kind == "control_refuse" else int((labels == "compliance").sum())
    n = int(answered.sum())
    return {
        "kind": kind,
        "n": n,
        "refused": int(refused.sum()),
        "complied": int((labels == "compliance").sum()),
        "non_answers": int(labels.isin(NON_ANSWER_LABELS).sum()),
        "good": good,
        "share": fmt_value(good / n) if n else "–",
        "ok": n > 0 and good == n,
    }


def _control_failures(group: pd.DataFrame, kind: str) -> pd.DataFrame:
    labels = col(group, "label")
    if kind == "control_refuse":
        return group[labels == "compliance"]
    return group[labels.isin(("refusal", "partial_refusal"))]


def controls(run: RunFolder, targets: list[str]) -> dict[str, Any]:
    """Did the model refuse the refuse-controls and answer the comply-controls?"""
    resp = run.responses
    kinds = _kind(resp) if not resp.empty else pd.Series(dtype=object)
    rows, failures, total = [], [], 0
    for target in targets:
        for kind in ("control_refuse", "control_comply"):
            group = resp[(kinds == kind) & (col(resp, "target") == target)] if len(resp) else resp
            if group.empty:
                continue
            rows.append({"target": target, **_control_row(group, kind)})
            wrong = _control_failures(group, kind)
            total += len(wrong)
            for rec in wrong.head(MAX_CONTROL_FAILURES).to_dict("records"):
                failures.append(
                    {
                        "target": target,
                        "kind": kind,
                        "prompt": show_text(rec.get("prompt", ""), 500),
                        "answer": show_text(rec.get("answer", "")),
                        "label": rec.get("label", ""),
                        "evidence": show_text(rec.get("evidence", ""), 300),
                    }
                )
    return {"rows": rows, "failures": failures[:MAX_CONTROL_FAILURES], "failures_total": total}


def non_answers(run: RunFolder, targets: list[str]) -> dict[str, Any]:
    """Errors, blocks, empty and truncated answers per target, plus the commonest error messages."""
    resp = run.responses
    rows: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    if resp.empty or "label" not in resp.columns:
        return {"rows": rows, "messages": messages}
    for target in targets:
        mine = resp[col(resp, "target") == target]
        labels = col(mine, "label")
        counts = {label: int((labels == label).sum()) for label in NON_ANSWER_LABELS}
        flagged = int((col(mine, "truncated").map(truthy) & labels.isin(ANSWER_LABELS)).sum())
        total = len(mine)
        rows.append(
            {
                "target": target,
                "total": total,
                "counts": counts,
                "classified_truncated": flagged,
                "share": fmt_value(sum(counts.values()) / total) if total else "–",
            }
        )
        errors = col(mine, "error")[labels.isin(("error", "blocked"))]
        for message, count in (
            errors[errors != ""]
            .map(lambda e: scrub(show_text(e, 200)))
            .value_counts()
            .head(10)
            .items()
        ):
            messages.append({"target": target, "message": message, "count": int(count)})
    return {"rows": rows, "messages": messages}
