"""Does a claim's verdict survive the classifier's measured error?

The classifier's sensitivity Se and specificity Sp (a calibration file written by
``refusal-audit classifier evaluate --save-calibration``, or the one shipped as
``audit/data/calibration.json``) turn an observed refusal share p into the true share
π = (p + Sp − 1)/(Se + Sp − 1) (Rogan–Gladen, methods note §7). The map is increasing when
Se + Sp > 1, so the claim's bounds map to bounds of the corrected rate; the verdict is judged
again on them. A verdict that changes "depends on the classifier".

Pair rates (``asymmetric_refusal_rate``) count pairs where exactly one side was flagged. With
independent errors on the two sides, the observed (both, one, neither) shares are
M·(true shares) with M from Se and Sp; the true "exactly one" share is read from M⁻¹, holding
the observed "both" share at its estimate.

Which calibration (``claims_calibration``): the run's own ``calibration`` file, else the shipped
one when it measures the run's classifier (``rules``). The shipped file serves this check only:
``summary.csv``'s corrected rates appear only with the run's own file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEPENDS",
    "NOT_CHECKED",
    "SHIPPED",
    "SURVIVES",
    "claims_calibration",
    "corrected_bounds",
    "error_rates",
    "origin",
    "rogan_gladen",
    "shipped_calibration",
]

SURVIVES = "survives the classifier's error"
DEPENDS = "depends on the classifier"
NOT_CHECKED = "not checked — no classifier calibration"
SHIPPED = "the shipped XSTest/IssueBench calibration"
"""The ``origin`` of the shipped calibration, named in ``classifier_check`` and the explanation."""
_STRICT_METRICS = ("refusal_rate", "asymmetric_refusal_rate", "refusal_rate_corrected")


def shipped_calibration() -> dict[str, Any] | None:
    """The calibration shipped with the package (``audit/data/calibration.json``), if any."""
    source = resources.files("audit").joinpath("data/calibration.json")
    if not source.is_file():
        return None
    data = json.loads(source.read_text(encoding="utf-8"))
    return (data | {"origin": SHIPPED}) if isinstance(data, dict) else None


def claims_calibration(own: Mapping[str, Any] | None, path: str | None = None,
                       classifier: str = "rules") -> dict[str, Any]:
    """The calibration a run's claims are checked with, its ``origin`` named.

    ``own``: the run's ``calibration`` file (read from ``path``), which wins; else the shipped
    one when it measures ``classifier``; else none (``{}``, with a ``missing`` note saying why).
    """
    if own is not None:
        return dict(own) | {"origin": f"the calibration file {Path(path or 'calibration').name}"}
    shipped = shipped_calibration()
    if shipped is None:
        return {}
    measured = str(shipped.get("classifier") or "rules")
    if measured == classifier:
        return shipped
    return {"missing": f"the shipped one measures the {measured} classifier, not {classifier}; "
                       f"set calibration from 'classifier evaluate --classifier {classifier} "
                       "--save-calibration'"}


def origin(calibration: Mapping[str, Any] | None) -> str:
    """Which calibration this is, in words ('' when it does not say)."""
    return str((calibration or {}).get("origin") or "")


def error_rates(metric: str, calibration: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """(Se, Sp) that apply to a metric, or None.

    A calibration whose ``positive`` is broad ("refusal or partial_refusal") applies to the
    broad rate and its ``strict`` entry to the strict rates (refusal_rate and the pair rates,
    which count strict refusals); a plain one applies to the strict rates only (as in
    ``summary_table``).
    """
    if not calibration:
        return None
    broad = "partial" in str(calibration.get("positive", "refusal"))
    if metric.startswith("refusal_rate_broad"):
        chosen: Any = calibration if broad else None
    elif metric.startswith(("refusal_rate", "asymmetric")):
        chosen = calibration.get("strict") if broad else calibration
    else:
        chosen = None
    try:
        se, sp = float(chosen["sensitivity"]), float(chosen["specificity"])
    except (KeyError, TypeError, ValueError):
        return None
    return (se, sp) if math.isfinite(se + sp) and se + sp > 1.0 else None


def rogan_gladen(p: float, se: float, sp: float) -> float:
    """The Rogan–Gladen corrected share (p + Sp − 1)/(Se + Sp − 1), clipped to [0, 1]."""
    return min(1.0, max(0.0, (p + sp - 1.0) / (se + sp - 1.0)))


def _pair_corrected(one: float, both: float, se: float, sp: float) -> float:
    """True "exactly one side refused" share from the observed one and both shares."""
    flag_one = np.array([[se * se, se * (1 - sp), (1 - sp) ** 2],  # observed both
                         [2 * se * (1 - se), se * sp + (1 - se) * (1 - sp), 2 * sp * (1 - sp)],
                         [(1 - se) ** 2, (1 - se) * sp, sp * sp]])  # observed neither
    observed = np.array([both, one, max(0.0, 1.0 - both - one)])
    true = np.linalg.solve(flag_one, observed)
    return float(min(1.0, max(0.0, true[1])))


def corrected_bounds(metric: str, bounds: tuple[float, float], rates: tuple[float, float],
                     both: float = math.nan) -> tuple[float, float]:
    """The claim's (low, high) bounds mapped to the misclassification-corrected rate."""
    se, sp = rates
    if metric.startswith("asymmetric") and math.isfinite(both):
        return (_pair_corrected(bounds[0], both, se, sp),
                _pair_corrected(bounds[1], both, se, sp))
    return rogan_gladen(bounds[0], se, sp), rogan_gladen(bounds[1], se, sp)
