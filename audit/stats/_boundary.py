"""Bounds that stay honest at the boundary: KG-CP widened by a topic random-effect posterior.

Korn–Graubard (KG-CP) estimates the topic design effect from the data. With a handful of
events (a 1% rate over 15–40 topics) that estimate is skewed low, and with no event at all it
cannot be estimated (DEFF = 1 is assumed): the bound is then too tight, and "rate < v" claims
pass up to 20% of the time when the true rate is exactly v (``bench/coverage.py``).

The fix (``docs/methods.md``, "Verdicts at the boundary") takes, for each limit, the more
cautious of KG-CP and the posterior quantile of the mean rate μ under a beta-binomial topic
random-effect model: topic k's events yₖ ~ BetaBinomial(nₖ, μ, ρ) with intra-topic correlation
ρ, a uniform prior on μ and a log-uniform prior on ρ over [0.002, 0.9]. The posterior is
computed on a fixed grid (600 logit-spaced μ × 40 ρ), vectorised over replicates for the
benchmark. The random-effect model does not need the design effect, so it stays honest when
the events are few or absent; KG-CP keeps the bound when the model would be narrower.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from audit.stats import _intervals as stats

__all__ = ["clustered_rate", "random_effect_quantiles"]

_MU = special.expit(np.linspace(special.logit(1e-5), special.logit(1 - 1e-5), 600))
_RHO = np.geomspace(0.002, 0.9, 40)
_RHO_WEIGHT = np.r_[0.5, np.ones(38), 0.5]  # log-uniform prior: trapezoid rule in log ρ
_EDGES = np.concatenate([[0.0], (_MU[1:] + _MU[:-1]) / 2.0, [1.0]])
_MU_WEIGHT = np.diff(_EDGES)  # uniform prior on μ: the grid cell widths
_CHUNK = 400  # replicates at a time
_CELLS = 64  # distinct (y, n) cells per likelihood table block (64 × 24,000 floats)


def _log_table(y: np.ndarray, n: np.ndarray) -> np.ndarray:
    """log P(y | n, μ, ρ) without the binomial coefficient, float32, shape (len(y), μ, ρ).

    Computed in float64 a few cells at a time and stored as float32 (what the sums use): the
    same values as one float64 table cast afterwards, without its float64 temporaries (~28 MB
    for 50 cells, at every clustered rate)."""
    kappa = (1.0 - _RHO) / _RHO
    a = _MU[:, None] * kappa[None, :]
    b = (1.0 - _MU)[:, None] * kappa[None, :]
    prior = special.betaln(a, b)
    out = np.empty((len(y), _MU.size, _RHO.size), dtype=np.float32)
    for i in range(0, len(y), 8):
        yy, nn = y[i:i + 8, None, None], n[i:i + 8, None, None]
        out[i:i + 8] = special.betaln(yy + a, nn - yy + b) - prior
    return out


def _blocks(y: np.ndarray, n: np.ndarray, keep: bool) -> list[np.ndarray] | None:
    """The float32 log-likelihood table, shape (cells, μ·ρ), of each block of ``_CELLS``
    distinct (y, n) cells when ``keep``; else None (``_loglik`` computes them as it goes)."""
    if not keep:
        return None
    return [_log_table(y[i:i + _CELLS], n[i:i + _CELLS]).reshape(len(y[i:i + _CELLS]), -1)
            for i in range(0, len(y), _CELLS)]


def _loglik(counts: np.ndarray, y: np.ndarray, n: np.ndarray, blocks: list[np.ndarray] | None
            ) -> np.ndarray:
    """Σ over cells of multiplicity × log-likelihood, float32, shape (rows, μ, ρ); block by
    block, so that many distinct topic sizes never hold the whole table at once."""
    loglik = np.zeros((len(counts), _MU.size * _RHO.size), dtype=np.float32)
    for number, start in enumerate(range(0, len(y), _CELLS)):
        stop = start + _CELLS
        table = (blocks[number] if blocks is not None else
                 _log_table(y[start:stop], n[start:stop]).reshape(len(y[start:stop]), -1))
        loglik += counts[:, start:stop].astype(np.float32) @ table
    return loglik.reshape(len(counts), _MU.size, _RHO.size)


def _posterior_cdf(loglik: np.ndarray) -> np.ndarray:
    """Posterior CDF of μ on the grid for each row of a (rows, μ, ρ) log-likelihood.

    The log-likelihood and its exponential are float32 (quantiles within 1e-5 of float64, 40%
    faster); the sum over μ is float64.
    """
    loglik = loglik - loglik.max(axis=(1, 2), keepdims=True)
    post = (np.exp(loglik) @ _RHO_WEIGHT.astype(np.float32)).astype(np.float64) * _MU_WEIGHT
    cdf = np.cumsum(post, axis=1)
    return np.asarray(cdf / cdf[:, -1:], dtype=float)


def _quantile(cdf: np.ndarray, prob: float) -> np.ndarray:
    """The μ at which each row's grid CDF reaches ``prob`` (linear within a grid cell)."""
    idx = np.minimum((cdf < prob).sum(axis=1), len(_MU) - 1)
    prev = np.where(idx > 0, cdf[np.arange(len(cdf)), np.maximum(idx - 1, 0)], 0.0)
    here = cdf[np.arange(len(cdf)), idx]
    frac = np.where(here > prev, (prob - prev) / np.maximum(here - prev, 1e-300), 1.0)
    low_edge, high_edge = _EDGES[idx], _EDGES[idx + 1]
    return np.asarray(low_edge + np.clip(frac, 0.0, 1.0) * (high_edge - low_edge), dtype=float)


def random_effect_quantiles(y: np.ndarray, n: np.ndarray, probs: tuple[float, ...]
                            ) -> np.ndarray:
    """Posterior quantiles of the mean rate μ under the beta-binomial topic model.

    ``y`` and ``n`` are per-topic events and sizes, shape (K,) or (replicates, K); topics
    with n = 0 are ignored. Returns shape (len(probs),) or (len(probs), replicates).
    """
    y_arr, n_arr = np.atleast_2d(np.asarray(y, dtype=float)), np.atleast_2d(np.asarray(n, float))
    keep = n_arr > 0
    cells = np.stack([np.where(keep, y_arr, -1.0), np.where(keep, n_arr, -1.0)], axis=-1)
    unique, inverse = np.unique(cells.reshape(-1, 2), axis=0, return_inverse=True)
    inverse = inverse.reshape(y_arr.shape)
    counts = np.stack([np.bincount(row, minlength=len(unique)) for row in inverse]).astype(float)
    valid = unique[:, 1] > 0
    cell_y, cell_n, counts = unique[valid, 0], unique[valid, 1], counts[:, valid]
    blocks = _blocks(cell_y, cell_n, keep=len(counts) > _CHUNK and len(cell_y) <= 4 * _CELLS)
    out = np.empty((len(probs), len(counts)))
    for start in range(0, len(counts), _CHUNK):
        rows = counts[start:start + _CHUNK]
        cdf = _posterior_cdf(_loglik(rows, cell_y, cell_n, blocks))
        for i, prob in enumerate(probs):
            out[i, start:start + _CHUNK] = _quantile(cdf, prob)
    return out[:, 0] if np.ndim(y) == 1 else out


def clustered_rate(y: np.ndarray, n: np.ndarray, confidence: float = 0.95
                   ) -> tuple[stats.ClusteredInterval, tuple[float, float]]:
    """The two-sided ``confidence`` CI of a topic-clustered rate and its one-sided
    ``confidence`` lower and upper bounds (the ones claims are judged on).

    Each limit is the more cautious of KG-CP (two-sided: ``kg_ci``; one-sided: the exact
    bound on the effective count p̂·n*, n* of the two-sided interval, as claims use it) and
    the random-effect posterior quantile. The method reads ``kg-cp+re(topic)``; KG-CP's
    design effect and n* are kept. With fewer than two topics: KG-CP's plain CP.
    """
    kg = stats.kg_ci(y, n, confidence)
    if not math.isfinite(kg.estimate):
        return kg, (math.nan, math.nan)
    x, level = kg.estimate * kg.n_eff, confidence
    one_sided = (stats.cp_lower_bound(x, kg.n_eff, level), stats.cp_upper_bound(x, kg.n_eff, level))
    if kg.clusters < 2:
        return kg, one_sided
    tail = (1.0 - confidence) / 2.0
    q = random_effect_quantiles(np.asarray(y, float), np.asarray(n, float),
                                (tail, 1.0 - level, level, 1.0 - tail))
    method = kg.method.replace("kg-cp(topic", "kg-cp+re(topic")
    ci = stats.ClusteredInterval(kg.estimate, min(kg.low, float(q[0])), max(kg.high, float(q[3])),
                                 method, kg.design_effect, kg.n_eff, kg.clusters)
    return ci, (min(one_sided[0], float(q[1])), max(one_sided[1], float(q[2])))
