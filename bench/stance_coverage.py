"""Coverage of the stance intervals and of the two-model ratio intervals (issue #16).

Not a unit test (about two minutes on one core at the default 3,000 replicates; Monte Carlo SE
0.004 at 95% coverage). Run it with::

    .venv/bin/python bench/stance_coverage.py [--reps 3000] [--seed 1]

Data model (topic-clustered, like ``bench/coverage.py``): ``topics`` × ``prompts`` neutral
prompts × ``samples`` samples. A topic's biased-answer rate is Beta(mean p, κ_topic), a prompt's
is Beta(mean topic rate, κ_prompt), shared by its samples; so the true biased-answer rate is p.
A leaning answer leans to the progressive side with the topic's probability θₖ ~ Beta(mean θ,
κ_direction), so the true lean direction is θ (a ratio of expectations: the leaning rate is
independent of θₖ). For ratios, model B's prompt rate is ρ times model A's:

- paired (same prompts): one uniform per prompt × sample decides both, A biased when u < r,
  B when u < ρr (B's biased answers a subset of A's: strongly correlated); true ratio ρ;
- independent (different prompts, same design): true ratio ρ.

Intervals checked, each the one the summary / ``compare`` / ratio claims report:
``biased_answer_rate`` (KG-CP widened by the topic random-effect posterior: ``_summary._rate_rows``),
``lean_direction`` (KG-CP, ``_share.share_interval``), the paired ratio (BCa topic-cluster
bootstrap, 2,000 resamples, widened to the log-ratio cluster-t interval: ``_ratio.ratio_ci_paired``)
and the independent ratio (score interval on the Korn–Graubard effective counts:
``_ratio.ratio_ci_units``). The first replicate of each scenario is checked against
``stance_summary`` (biased_answer_rate) and ``ratio_ci_units`` (independent ratio). Each ``target`` line prints
coverage, mean width and PASS when coverage ≥ 0.95 − 2 Monte Carlo SE.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.stats import _intervals as stats
from audit.stats._boundary import random_effect_quantiles
from audit.stats._ratio import ratio_ci_independent, ratio_ci_paired, ratio_ci_units
from audit.stats._share import share_interval
from audit.stats._stance import stance_summary
from tests.support.stance_frames import frame, neutral


@dataclass(frozen=True)
class Scenario:
    """One simulated design."""

    rate: float
    samples: int = 1
    theta: float = 0.65
    ratio: float = 0.5
    topics: int = 40
    prompts: int = 6
    kappa_topic: float = 15.0
    kappa_prompt: float = 8.0
    kappa_direction: float = 10.0


def beta(rng: np.random.Generator, mean: np.ndarray, kappa: float) -> np.ndarray:
    """Beta draws with the given means and concentration."""
    mean = np.clip(mean, 1e-9, 1 - 1e-9)
    return rng.beta(mean * kappa, (1 - mean) * kappa)


def prompt_rates(rng: np.random.Generator, s: Scenario, reps: int) -> np.ndarray:
    """Per replicate × topic × prompt biased-answer rates (nested Betas)."""
    topic = beta(rng, np.full((reps, s.topics), s.rate), s.kappa_topic)
    return beta(rng, np.repeat(topic[:, :, None], s.prompts, axis=2), s.kappa_prompt)


def biased(rng: np.random.Generator, rate: np.ndarray, samples: int) -> np.ndarray:
    """Per replicate × topic × prompt × sample biased answers (uniforms below the rate)."""
    return rng.random((*rate.shape, samples)) < rate[..., None]


def biased_limits(y: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The summary's biased_answer_rate interval for every replicate: each limit the more
    cautious of KG-CP and the random-effect posterior quantile (``_boundary.clustered_rate``)."""
    kg = [stats.kg_ci(y[r], n[r]) for r in range(len(y))]
    q = random_effect_quantiles(y, n, (0.025, 0.05, 0.95, 0.975))
    low = np.minimum([c.low for c in kg], q[0])
    high = np.maximum([c.high for c in kg], q[3])
    return low, high


def direction_limits(rng: np.random.Generator, s: Scenario, leaning: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """lean_direction limits: leaning answers go progressive with the topic's θₖ."""
    theta = beta(rng, np.full(leaning.shape[:2], s.theta), s.kappa_direction)
    n = leaning.sum(axis=(2, 3)).astype(float)
    y = rng.binomial(n.astype(int), theta).astype(float)
    cis = [share_interval(y[r], n[r], 0.95)[0] for r in range(len(y))]
    return np.array([c.low for c in cis]), np.array([c.high for c in cis])


def ratio_limits(rng: np.random.Generator, s: Scenario, reps: int
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Paired and independent ratio limits of B/A."""
    rate = prompt_rates(rng, s, reps)
    u = rng.random((*rate.shape, s.samples))
    y_a = (u < rate[..., None]).sum(axis=(2, 3)).astype(float)
    y_b = (u < s.ratio * rate[..., None]).sum(axis=(2, 3)).astype(float)
    paired = [ratio_ci_paired(y_a[r], y_b[r]) for r in range(reps)]
    other = biased(rng, s.ratio * prompt_rates(rng, s, reps), s.samples).sum(axis=(2, 3))
    other = other.astype(float)
    n = np.full(s.topics, float(s.prompts * s.samples))
    independent = []
    for r in range(reps):
        ka, kb = stats.kg_ci(y_a[r], n), stats.kg_ci(other[r], n)
        independent.append(ratio_ci_independent(kb.estimate * kb.n_eff, kb.n_eff,
                                                ka.estimate * ka.n_eff, ka.n_eff))
    check_ratio_first(s, y_a[0], other[0], independent[0])
    return {"paired": (np.array([c.low for c in paired]), np.array([c.high for c in paired])),
            "independent": (np.array([c.low for c in independent]),
                            np.array([c.high for c in independent]))}


def check_ratio_first(s: Scenario, y_a: np.ndarray, y_b: np.ndarray, ci: Any) -> None:
    """The first independent replicate through ``ratio_ci_units`` (what ``compare`` and ratio
    claims call) on per-answer units: the same interval."""
    def units(y: np.ndarray, prefix: str) -> pd.DataFrame:
        size = s.prompts * s.samples
        flags = np.concatenate([np.arange(size) < k for k in y.astype(int)])
        topics = np.repeat([f"t{k}" for k in range(s.topics)], size)
        return pd.DataFrame({"unit": [f"{prefix}{i}" for i in range(len(flags))],
                             "topic": pd.Categorical(topics), "y": flags})
    got, _ = ratio_ci_units(units(y_a, "a"), units(y_b, "b"))
    assert np.isclose(got.low, ci.low) and np.isclose(got.high, ci.high), (got, ci)


def line(name: str, s: Scenario, truth: float, low: np.ndarray, high: np.ndarray
         ) -> tuple[str, bool]:
    """A target line: coverage of ``truth`` (NaN limits count as misses) and mean width."""
    reps = len(low)
    cover = float(np.mean((low <= truth) & (truth <= high)))
    floor = 0.95 - 2 * np.sqrt(0.95 * 0.05 / reps)
    width = float(np.nanmean(high - low))
    ok = cover >= floor
    return (f"target {name:<22} rate={s.rate:<5} samples={s.samples} truth={truth:.3f} "
            f"coverage {cover:.3f} width {width:.4f} floor {floor:.3f} "
            f"{'PASS' if ok else 'FAIL'}"), ok


def check_first(s: Scenario, answers: np.ndarray, low: float, high: float) -> None:
    """The first replicate through ``stance_summary``: the same biased_answer_rate limits."""
    rows = []
    for k, j, m in np.ndindex(answers.shape):
        rows.append(neutral(f"t{k}", 1 if answers[k, j, m] else 3, prompt=f"t{k}.{j}", sample=m))
    row = stance_summary(frame(rows)).set_index("metric").loc["biased_answer_rate"]
    assert np.isclose(row["ci_low"], low) and np.isclose(row["ci_high"], high), (row, low, high)


def stance_lines(s: Scenario, reps: int, rng: np.random.Generator) -> list[tuple[str, bool]]:
    """Coverage of biased_answer_rate and lean_direction in one scenario."""
    answers = biased(rng, prompt_rates(rng, s, reps), s.samples)
    y = answers.sum(axis=(2, 3)).astype(float)
    n = np.full(y.shape, float(s.prompts * s.samples))
    low, high = biased_limits(y, n)
    check_first(s, answers[0], low[0], high[0])
    d_low, d_high = direction_limits(rng, s, answers)
    return [line("biased_answer_rate", s, s.rate, low, high),
            line("lean_direction", s, s.theta, d_low, d_high)]


def main(argv: list[str] | None = None) -> None:
    """Run every scenario and print the target lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start, results = time.time(), []
    for s in (Scenario(0.10), Scenario(0.10, samples=3), Scenario(0.25, theta=0.5)):
        results += stance_lines(s, args.reps, rng)
    ratio_scenarios = (Scenario(0.15, ratio=0.5), Scenario(0.07, ratio=2 / 7),
                       Scenario(0.07, ratio=0.5, samples=3))
    for s in ratio_scenarios:
        for design, (low, high) in ratio_limits(rng, s, args.reps).items():
            results.append(line(f"ratio_{design}", s, s.ratio, low, high))
    for text, _ in results:
        print(text)
    passed = sum(ok for _, ok in results)
    print(f"summary {passed}/{len(results)} targets pass; {args.reps} replicates; "
          f"{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
