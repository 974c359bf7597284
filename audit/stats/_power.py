"""Sample-size planning with exact binomial power (methods note §8).

The exact searches evaluate power for a whole range of sample sizes at once with
``scipy.stats.binom`` and return the smallest n from which power stays at or above the target.
Exact power is saw-toothed in n; "stays" is checked over the next ``lookahead`` sizes
(default 50, the rule that reproduces the methods note's table: 129, 1,030, 299/473/773/2,064).
``lookahead=None`` demands it for every larger n in the searched range (slightly larger
answers, e.g. 1,091 instead of 1,030). A search that would pass ``max_n`` returns ``None``.

Sizes count units of analysis (answers or pairs); multiply by the design effect (§2) and count
prompts, not samples: see :func:`plan_design`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = [
    "DesignPlan",
    "n_direction",
    "n_equivalence",
    "n_mcnemar_connor",
    "n_mcnemar_exact",
    "n_one_sample",
    "n_two_independent",
    "n_two_paired",
    "paired_discordance",
    "plan_design",
    "power_equivalence",
    "power_mcnemar_exact",
    "power_one_sample",
]

LOOKAHEAD = 50
MAX_N = 200_000
PowerFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class DesignPlan:
    """How many units, prompts and topics an audit needs."""

    units: int
    """Units of analysis (answers or pairs, samples included) after the design effect."""
    prompts: int
    """Distinct prompts to write (both sides of every pair)."""
    pairs: int
    """Distinct mirrored pairs (topic × template)."""
    topics: int
    """Topics at ``templates`` templates (pairs) per topic."""
    templates: int
    samples: int
    design_effect: float


# --- exact power curves ------------------------------------------------------------------------


def _crit_less(n: np.ndarray, bound: float, alpha: float) -> np.ndarray:
    """Largest x with P(X ≤ x | n, bound) ≤ α (−1 where none): reject "rate < bound" at x ≤ it."""
    x0 = sps.binom.ppf(alpha, n, bound)
    return np.asarray(np.where(sps.binom.cdf(x0, n, bound) <= alpha, x0, x0 - 1.0), dtype=float)


def power_one_sample(
    n: np.ndarray | int, p_true: float, bound: float, alternative: str = "less", alpha: float = 0.05
) -> np.ndarray:
    """Exact power of the one-sided binomial test of "rate < bound" (or "> bound")."""
    n_arr = np.atleast_1d(np.asarray(n, dtype=float))
    if alternative == "greater":
        return power_one_sample(n_arr, 1.0 - p_true, 1.0 - bound, "less", alpha)
    if alternative != "less":
        raise ValueError(f"alternative must be 'less' or 'greater', got {alternative!r}")
    crit = _crit_less(n_arr, bound, alpha)
    return np.where(crit >= 0, sps.binom.cdf(crit, n_arr, p_true), 0.0)


def power_equivalence(
    n: np.ndarray | int, p_true: float, low: float, upp: float, alpha: float = 0.05
) -> np.ndarray:
    """Exact power of TOST for low < rate < upp: P(c_low ≤ X ≤ c_upp | p_true)."""
    n_arr = np.atleast_1d(np.asarray(n, dtype=float))
    c_upp = _crit_less(n_arr, upp, alpha)
    c_low = n_arr - _crit_less(n_arr, 1.0 - low, alpha)
    inside = sps.binom.cdf(c_upp, n_arr, p_true) - sps.binom.cdf(c_low - 1.0, n_arr, p_true)
    return np.where(c_low <= c_upp, np.maximum(inside, 0.0), 0.0)


def _mcnemar_crit(d: np.ndarray, alpha: float, midp: bool) -> np.ndarray:
    """Largest m with two-sided exact (or mid-p) McNemar p ≤ α given d discordant pairs."""
    m0 = sps.binom.ppf(alpha / 2.0, d, 0.5)
    crit = np.asarray(np.where(sps.binom.cdf(m0, d, 0.5) <= alpha / 2.0, m0, m0 - 1.0), dtype=float)
    if not midp:
        return crit
    nxt = crit + 1.0
    mid = sps.binom.cdf(nxt, d, 0.5) - 0.5 * sps.binom.pmf(nxt, d, 0.5)
    return np.asarray(np.where((mid <= alpha / 2.0) & (2.0 * nxt < d), nxt, crit), dtype=float)


def power_mcnemar_exact(
    n: np.ndarray | int, p10: float, p01: float, alpha: float = 0.05, midp: bool = False
) -> np.ndarray:
    """Exact unconditional power of the exact (or mid-p) McNemar test with n pairs.

    ``p10`` and ``p01`` are the probabilities that only A, or only B, refuses.
    """
    n_arr = np.atleast_1d(np.asarray(n, dtype=float))
    psi = p10 + p01
    if psi <= 0:
        return np.zeros_like(n_arr)
    half = math.ceil(9.0 * math.sqrt(n_arr.max() * psi * (1.0 - psi))) + 5
    d = np.arange(0.0, min(n_arr.max(), math.ceil(n_arr.max() * psi) + half) + 1.0)
    crit = _mcnemar_crit(d, alpha, midp)
    theta = p10 / psi
    cond = sps.binom.cdf(crit, d, theta) + sps.binom.sf(d - crit - 1.0, d, theta)
    cond = np.where(crit >= 0, cond, 0.0)
    rows = max(1, 2_000_000 // (2 * half + 1))
    return np.concatenate([_mix(part, psi, cond, half) for part in _chunks(n_arr, rows)])


def _mix(n: np.ndarray, psi: float, cond: np.ndarray, half: int) -> np.ndarray:
    """Σ_D P(D | n, ψ)·cond[D] over D within ``half`` of nψ (the rest is < 1e-15)."""
    d = np.round(n * psi)[:, None] + np.arange(-half, half + 1)[None, :]
    valid = (d >= 0) & (d <= n[:, None]) & (d < cond.size)
    weights = np.where(valid, sps.binom.pmf(d, n[:, None], psi), 0.0)
    mixed = (weights * cond[np.clip(d, 0, cond.size - 1).astype(int)]).sum(axis=1)
    return np.asarray(mixed, dtype=float)


def _chunks(values: np.ndarray, size: int) -> list[np.ndarray]:
    """Split an array into consecutive pieces of at most ``size`` elements."""
    return [values[i : i + size] for i in range(0, values.size, size)]


# --- the search --------------------------------------------------------------------------------


def _first_stable(ok: np.ndarray, lookahead: int | None) -> int | None:
    """Index from which ``ok`` holds for ``lookahead`` steps (or to the end); None if nowhere."""
    if lookahead is None:
        if not ok[-1]:
            return None
        bad = np.nonzero(~ok)[0]
        return int(bad[-1] + 1) if bad.size else 0
    window = np.convolve(ok.astype(int), np.ones(lookahead, dtype=int), mode="valid")
    hits = np.nonzero(window == lookahead)[0]
    return int(hits[0]) if hits.size else None


def _search(
    power_fn: PowerFn, n0: float, target: float, lookahead: int | None, max_n: int
) -> int | None:
    """Smallest n with power ≥ target that stays there; grid around the normal guess ``n0``."""
    if not math.isfinite(n0) or n0 > max_n:
        return None
    pad = 2 * (lookahead or LOOKAHEAD) + 50
    lo, hi = max(1, int(0.6 * n0)), min(max_n, int(1.5 * n0) + pad)
    while True:
        grid = np.arange(lo, hi + 1)
        ok = power_fn(grid) >= target
        if lo > 1 and ok[0]:
            lo = max(1, lo // 4)
            continue
        first = _first_stable(ok, lookahead)
        if first is not None:
            return int(grid[first])
        if hi >= max_n:
            return None
        lo, hi = max(1, hi - pad), min(max_n, 2 * hi)


def _z(q: float) -> float:
    """Standard normal quantile."""
    return float(sps.norm.ppf(q))


def _check(alpha: float, power: float) -> None:
    """Validate the test level and target power."""
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha}, {power}")


# --- public sample sizes -----------------------------------------------------------------------


def n_one_sample(
    p_true: float,
    bound: float,
    *,
    alternative: str = "less",
    alpha: float = 0.05,
    power: float = 0.8,
    lookahead: int | None = LOOKAHEAD,
    max_n: int = MAX_N,
) -> int | None:
    """Units needed to show rate < bound (``'less'``) or > bound when the true rate is p_true.

    Exact one-sided binomial test at level α. ``None`` when p_true is on the wrong side of the
    bound (no n suffices) or more than ``max_n`` would be needed.
    """
    _check(alpha, power)
    if alternative == "greater":
        return n_one_sample(1 - p_true, 1 - bound, alpha=alpha, power=power,
                            lookahead=lookahead, max_n=max_n)
    if not 0.0 <= p_true < bound <= 1.0:
        return None
    spread = _z(1 - alpha) * math.sqrt(bound * (1 - bound)) + _z(power) * math.sqrt(
        p_true * (1 - p_true))
    n0 = (spread / (bound - p_true)) ** 2
    return _search(lambda n: power_one_sample(n, p_true, bound, "less", alpha), n0, power,
                   lookahead, max_n)


def n_equivalence(
    p_true: float,
    low: float,
    upp: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    lookahead: int | None = LOOKAHEAD,
    max_n: int = MAX_N,
) -> int | None:
    """Units for TOST to show low < rate < upp when the true rate is p_true (exact)."""
    _check(alpha, power)
    if not low < p_true < upp:
        return None
    gap = min(p_true - low, upp - p_true)
    sd = math.sqrt(max(p_true * (1 - p_true), 1e-12))
    n0 = ((_z(1 - alpha) + _z(0.5 + power / 2)) * sd / gap) ** 2
    return _search(lambda n: power_equivalence(n, p_true, low, upp, alpha), n0, power,
                   lookahead, max_n)


def n_two_independent(p1: float, p2: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Units per group to tell two independent rates apart (two-sided test at α, §8).

    ``samplesize_proportions_2indep_onetail`` rounded up (7% vs 2% → 269 at 80% power).
    """
    _check(alpha, power)
    if p1 == p2:
        raise ValueError("the two rates are equal: no sample size can tell them apart")
    hi, lo = max(p1, p2), min(p1, p2)
    # here, not at the top: statsmodels loads only when used
    from statsmodels.stats.proportion import samplesize_proportions_2indep_onetail

    n = samplesize_proportions_2indep_onetail(diff=hi - lo, prop2=lo, power=power, alpha=alpha)
    return math.ceil(float(n) - 1e-9)


def n_mcnemar_connor(p10: float, p01: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Pairs for McNemar's test by Connor's formula n = [z√ψ + z_β√(ψ−δ²)]²/δ² (§8)."""
    _check(alpha, power)
    psi, delta = p10 + p01, p10 - p01
    if delta == 0:
        raise ValueError("p10 equals p01: no sample size detects a zero difference")
    top = _z(1 - alpha / 2) * math.sqrt(psi) + _z(power) * math.sqrt(psi - delta**2)
    return math.ceil(top**2 / delta**2 - 1e-9)


def n_mcnemar_exact(
    p10: float,
    p01: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    midp: bool = False,
    lookahead: int | None = LOOKAHEAD,
    max_n: int = MAX_N,
) -> int | None:
    """Pairs for the exact (or mid-p) McNemar test to detect p10 ≠ p01 (exact power search)."""
    if p10 == p01:
        return None
    n0 = n_mcnemar_connor(p10, p01, alpha=alpha, power=power)
    return _search(lambda n: power_mcnemar_exact(n, p10, p01, alpha, midp), n0, power,
                   lookahead, max_n)


def n_direction(
    asymmetric_rate: float, share: float, *, alpha: float = 0.05, power: float = 0.8,
    midp: bool = False,
) -> int | None:
    """Pairs to detect direction: an asymmetric rate split ``share`` : 1−share (e.g. 3:1 → 0.75)."""
    return n_mcnemar_exact(asymmetric_rate * share, asymmetric_rate * (1 - share),
                           alpha=alpha, power=power, midp=midp)


def paired_discordance(
    p1: float, p2: float, discordant: float | None = None
) -> tuple[float, float]:
    """(p10, p01) for two rates measured on the same units: only-1 and only-2 probabilities.

    With ``discordant`` ψ = p10 + p01 given, p10 = (ψ + δ)/2 and p01 = (ψ − δ)/2 for
    δ = p1 − p2 (ValueError if no joint distribution has those margins). Without it, the
    *independent* case p10 = p1(1−p2), p01 = p2(1−p1); the *nested* case (one model's
    refusals a subset of the other's) is ``discordant=abs(p1 - p2)``. The methods note's §8
    range 158–292 for 7% vs 2% spans these two cases.
    """
    if not (0.0 <= p1 <= 1.0 and 0.0 <= p2 <= 1.0):
        raise ValueError(f"rates must lie in [0, 1], got {p1}, {p2}")
    if discordant is None:
        return p1 * (1.0 - p2), p2 * (1.0 - p1)
    p10, p01 = (discordant + p1 - p2) / 2.0, (discordant - p1 + p2) / 2.0
    tol = 1e-12
    if p10 < -tol or p01 < -tol or p10 > min(p1, 1 - p2) + tol or p01 > min(p2, 1 - p1) + tol:
        raise ValueError(f"a discordant rate of {discordant:g} is impossible for rates {p1:g} "
                         f"and {p2:g}: it must lie between {abs(p1 - p2):g} and "
                         f"{min(p1 + p2, 2 - p1 - p2):g}")
    return max(p10, 0.0), max(p01, 0.0)


def n_two_paired(
    p1: float, p2: float, *, discordant: float | None = None, alpha: float = 0.05,
    power: float = 0.8,
) -> int | None:
    """Units (same prompts for both models) for the exact McNemar test of p1 ≠ p2 (§5, §8).

    ``discordant`` as in :func:`paired_discordance` (default: independent refusals).
    """
    _check(alpha, power)
    if p1 == p2:
        raise ValueError("the two rates are equal: no sample size can tell them apart")
    p10, p01 = paired_discordance(p1, p2, discordant)
    return n_mcnemar_exact(p10, p01, alpha=alpha, power=power)


def plan_design(
    units: int, *, deff: float = 1.0, samples: int = 1, templates: int = 6, unit: str = "answers"
) -> DesignPlan:
    """Turn a unit count into prompts, pairs and topics, inflated by the design effect.

    ``unit`` is ``'answers'`` (each pair gives two answers per sample) or ``'pairs'``.
    ``deff`` should describe the planned design (topics × templates × samples, §2).
    """
    if deff < 1 or samples < 1 or templates < 1 or unit not in ("answers", "pairs"):
        raise ValueError("need deff ≥ 1, samples ≥ 1, templates ≥ 1, unit 'answers' or 'pairs'")
    needed = math.ceil(units * deff - 1e-9)
    per_pair = 2 * samples if unit == "answers" else samples
    pairs = math.ceil(needed / per_pair)
    topics = math.ceil(pairs / templates)
    return DesignPlan(needed, 2 * pairs, pairs, topics, templates, samples, deff)
