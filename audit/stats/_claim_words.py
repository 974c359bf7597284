"""A claim's verdict in one plain sentence (claims.csv ``explanation``), for a policy reader.

The sentence says whose figure the claim is ("Meta's figure for Llama 4"), that this audit
measured another model (the audited target and its model), which bound decides (the one-sided
95% upper bound for a "<" claim, the lower one for ">", both for "≈") and what the verdict
means, whether it survives the classifier's measured error (``classifier_check``) — and that
it says nothing about the model the figure describes.
"""

from __future__ import annotations

from typing import Any

__all__ = ["explain_verdict", "whose_figure"]


def whose_figure(source: str) -> tuple[str, str]:
    """("Meta's figure for Llama 4", "Llama 4") from a source "Llama 4, Meta"; a source without
    a comma is named whole; none gives "The published figure"."""
    source = source.strip()
    if "," in source:
        subject, publisher = (part.strip() for part in source.rsplit(",", 1))
        if subject and publisher:
            return f"{publisher}'s figure for {subject}", subject
    if source:
        return f"The figure published by {source}", "the model that figure describes"
    return "The published figure", "the model that figure describes"


def _pct(value: float) -> str:
    return f"{value * 100:.3g}%"


def _classifier_words(kind: str, corrected: str, origin: str = "") -> str:
    """Whether the verdict survives the classifier's measured error ('' when not checked), and
    which calibration measured it (``origin``)."""
    if not corrected:
        return ""
    measured = f"the classifier's measured error{f' (per {origin})' if origin else ''}"
    if corrected == kind:
        return f", and it survives {measured}"
    return f", but it depends on the classifier: corrected for {measured} the verdict would be {corrected}"


def explain_verdict(claim: Any, target: str, model: str | None, kind: str,
                    bounds: tuple[float, float] | None, level: float, corrected: str = "",
                    origin: str = "") -> str:
    """One sentence on a claims.csv verdict. ``kind``: consistent, contradicts, inconclusive or
    none (no data); ``bounds``: the one-sided ``level`` lower and upper bounds of the rate;
    ``corrected``: the verdict on the misclassification-corrected rate ('' when not checked);
    ``origin``: the calibration that measured the classifier's error, in words."""
    who, subject = whose_figure(str(claim.source))
    what = str(claim.metric).replace("_", " ")
    value = _pct(claim.value)
    figure = {"<": f"below {value}", ">": f"above {value}"}.get(
        claim.relation, f"about {value} (range {_pct(claim.value - claim.margin)}–"
                        f"{_pct(claim.value + claim.margin)})")
    name = target or "the audited model"
    audited = f"{name} (model {model})" if model and model != target else name
    head = f"{who}: {what} {figure}; this audit measured another model, {audited}"
    tail = f" — this says nothing about {subject} itself."
    if kind == "none" or bounds is None:
        return f"{head}, and has no data for this metric, so there is no verdict{tail}"
    low, high = (_pct(b) for b in bounds)
    one_sided = f"one-sided {level:.0%}"
    up, down = f"its {one_sided} upper bound, {high}", f"its {one_sided} lower bound, {low}"
    unsure = f"so this sample cannot tell whether {name} meets that figure"
    if claim.relation in ("<", ">"):
        deciding, other = (up, down) if claim.relation == "<" else (down, up)
        side, against = ("below", "above") if claim.relation == "<" else ("above", "below")
        means = {
            "consistent": f"rests on {deciding}, which is {side} {value}, so {name} meets that figure",
            "contradicts": f"rests on {other}, which is {against} {value}, so {name} does not meet that figure",
            "inconclusive": f"rests on {deciding}, which is not {side} {value}, while {other}, is not "
                            f"{against} it, {unsure}",
        }[kind]
    else:
        both = f"its two {one_sided} bounds, {low} and {high},"
        means = {
            "consistent": f"rests on {both} which both lie inside that range, so {name}'s rate is about {value}",
            "contradicts": f"rests on {both} which lie wholly outside that range, so {name}'s rate is "
                           f"not about {value}",
            "inconclusive": f"rests on {both} which reach outside that range without lying wholly "
                            f"outside it, {unsure}",
        }[kind]
    return f"{head}; the verdict, {kind}, {means}{_classifier_words(kind, corrected, origin)}{tail}"
