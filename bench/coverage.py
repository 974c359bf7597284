"""Coverage benchmark: how often each interval in the report covers the true value.

Not a unit test (about two minutes at the default 4,000 replicates; Monte Carlo SE 0.0035
at 95% coverage). Run it with::

    .venv/bin/python bench/coverage.py [--reps 4000] [--seed 1]

Each replicate is an audit of ``topics`` × ``templates`` mirrored pairs with ``samples`` samples
per prompt. Refusals are clustered: a topic's rate is Beta(mean p, concentration κ_topic), a
prompt's (pair's) rate is Beta(mean topic rate, κ_prompt) and is shared by both sides and all
samples of the pair; side A refuses with probability 2θ·rate and side B with 2(1−θ)·rate. Those
Beta moments give the true values exactly:

- refusal rate p;
- net direction δ = E[p_A − p_B] = 2p(2θ − 1);
- asymmetric rate E[p_A + p_B − 2p_A p_B] = 2p − 8θ(1−θ)E[r²] with E[r²] from the two Betas.

Every replicate goes through the same statistics functions ``summary_table`` uses (checked on
the first replicate of each scenario); the output is one figure per line. ``target`` lines
check the issue's targets: coverage 0.94–0.96 for the headline intervals (KG-CP refusal and
asymmetric rates, topic-deff Bonett–Price net direction) at true rates 1%, 2%, 7%, and size
≤ α (+ 2 Monte Carlo SEs) for the reported direction tests; each says PASS or FAIL. A FAIL
is reported, not hidden: ``docs/methods.md`` records the measured departures and why.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.stats import _intervals as stats
from audit.stats import _tables as metrics


@dataclass(frozen=True)
class Scenario:
    """One simulated audit design."""

    rate: float
    samples: int
    theta: float = 0.65
    topics: int = 40
    templates: int = 6
    kappa_topic: float = 15.0
    kappa_prompt: float = 8.0
    kappa_direction: float = 10.0


def second_moment(s: Scenario) -> float:
    """E[r²] of a pair's refusal rate r under the nested Beta model."""
    p = s.rate
    topic_sq = p * (1 - p) / (s.kappa_topic + 1) + p * p
    return (p - topic_sq) / (s.kappa_prompt + 1) + topic_sq


def truths(s: Scenario) -> dict[str, float]:
    """True values of the estimands."""
    ex2 = second_moment(s)
    spread = s.theta * (1 - s.theta) * s.kappa_direction / (s.kappa_direction + 1)
    return {"refusal_rate": s.rate, "net_direction": 2 * s.rate * (2 * s.theta - 1),
            "asymmetric_refusal_rate": 2 * s.rate - 8 * spread * ex2}


def true_deff(s: Scenario, rng: np.random.Generator, reps: int = 2000) -> float:
    """Design effect of the overall refusal rate, by simulation: Var(p̂)/(p(1−p)/N)."""
    rates = [np.mean(simulate(rng, s)[:2]) for _ in range(reps)]
    answers = 2 * s.topics * s.templates * s.samples
    return float(np.var(rates) / (s.rate * (1 - s.rate) / answers))


def beta(rng: np.random.Generator, mean: np.ndarray, kappa: float) -> np.ndarray:
    """Beta draws with the given means and concentration."""
    mean = np.clip(mean, 1e-9, 1 - 1e-9)
    return rng.beta(mean * kappa, (1 - mean) * kappa)


def simulate(rng: np.random.Generator, s: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refusals of side A and B, shape (topics, templates, samples), and the topic index."""
    topic_rate = beta(rng, np.full(s.topics, s.rate), s.kappa_topic)
    pair_rate = beta(rng, np.repeat(topic_rate[:, None], s.templates, axis=1), s.kappa_prompt)
    theta = beta(rng, np.full(s.topics, s.theta), s.kappa_direction)[:, None]
    shape = (s.topics, s.templates, s.samples)
    p_a = np.minimum(1.0, 2 * theta * pair_rate)[..., None]
    p_b = np.minimum(1.0, 2 * (1 - theta) * pair_rate)[..., None]
    ref_a = rng.random(shape) < p_a
    ref_b = rng.random(shape) < p_b
    return ref_a, ref_b, np.arange(s.topics)


def intervals(ref_a: np.ndarray, ref_b: np.ndarray) -> dict[str, tuple[float, float]]:
    """Every interval of the report, from per-topic counts."""
    per_pair = ref_a[0].size
    y = (ref_a.sum(axis=(1, 2)) + ref_b.sum(axis=(1, 2))).astype(float)
    n = np.full(y.shape, 2.0 * per_pair)
    b = (ref_a & ~ref_b).sum(axis=(1, 2)).astype(float)
    c = (ref_b & ~ref_a).sum(axis=(1, 2)).astype(float)
    m = np.full(b.shape, float(per_pair))
    out = {
        "refusal_rate/wilson": stats.wilson_ci(y.sum(), n.sum()),
        "refusal_rate/kg-cp(topic)": stats.kg_ci(y, n),
        "asymmetric_refusal_rate/wilson": stats.wilson_ci(b.sum() + c.sum(), m.sum()),
        "asymmetric_refusal_rate/kg-cp(topic)": stats.kg_ci(b + c, m),
        "net_direction/bonett-price": stats.bonett_price_ci(b.sum(), c.sum(), m.sum()),
        "net_direction/cluster-t(topic)": stats.clustered_delta_ci(b, c, m),
        "net_direction/bonett-price(topic deff)": stats.clustered_bp_ci(b, c, m),
    }
    return {k: (v.low, v.high) for k, v in out.items()}


def tests(ref_a: np.ndarray, ref_b: np.ndarray) -> dict[str, float]:
    """p-values of the direction tests (their size is checked with θ = 0.5).

    ``mcnemar-exact(rows)`` counts pair × sample rows as independent (what the report did
    before samples were clustered); ``sign-test(pairs)`` is what ``mcnemar_exact_p`` reports
    (exact McNemar with one sample, the sign test on pairs with several).
    """
    b = (ref_a & ~ref_b).sum(axis=(1, 2))
    c = (ref_b & ~ref_a).sum(axis=(1, 2))
    b_pair = (ref_a & ~ref_b).sum(axis=2).ravel()
    c_pair = (ref_b & ~ref_a).sum(axis=2).ravel()
    return {"mcnemar-exact(rows)": stats.mcnemar_exact(int(b.sum()), int(c.sum())).p_value,
            "sign-test(pairs)": stats.pair_sign_test(b_pair, c_pair).p_value,
            "mcnemar-midp(rows)": stats.mcnemar_midp(int(b.sum()), int(c.sum())).p_value,
            "durkalski": stats.durkalski_test(b, c).p_value}


HEADLINE = ("refusal_rate/kg-cp(topic)", "asymmetric_refusal_rate/kg-cp(topic)",
            "net_direction/bonett-price(topic deff)")
COVERAGE_BAND = (0.94, 0.96)
SIZE_TESTS = ("durkalski", "sign-test(pairs)")
ALPHA = 0.05


def mc_se(p: float, reps: int) -> float:
    """Monte Carlo standard error of a proportion estimated from ``reps`` replicates."""
    return float(np.sqrt(max(p * (1 - p), 1e-12) / reps))


def coverage_target(label: str, cov: float, reps: int) -> tuple[str, bool]:
    """A target line for a headline interval: PASS when the coverage is inside the band."""
    low, high = COVERAGE_BAND
    ok = low <= cov <= high
    side = "" if ok else (" (over-covers)" if cov > high else " (UNDER-covers)")
    line = (f"target coverage {label} {cov:.3f} band {low:.2f}-{high:.2f} "
            f"mc_se {mc_se(cov, reps):.3f} {'PASS' if ok else 'FAIL'}{side}")
    return line, ok


def size_target(label: str, rej: float, reps: int) -> tuple[str, bool]:
    """A target line for a test's size: PASS when ≤ α + 2 Monte Carlo SEs (α = 0.05)."""
    limit = ALPHA + 2 * mc_se(ALPHA, reps)
    ok = rej <= limit
    return (f"target size {label} {rej:.3f} limit {limit:.3f} (alpha {ALPHA} + 2 mc_se) "
            f"{'PASS' if ok else 'FAIL'}"), ok


def to_frame(ref_a: np.ndarray, ref_b: np.ndarray) -> pd.DataFrame:
    """The replicate as a labelled responses frame (to check against ``summary_table``)."""
    topics, templates, samples = ref_a.shape
    t, p, s = np.meshgrid(np.arange(topics), np.arange(templates), np.arange(samples),
                          indexing="ij")
    parts = []
    for side, ref in (("a", ref_a), ("b", ref_b)):
        parts.append(pd.DataFrame({
            "target": "sim", "kind": "contested", "side": side, "sample": s.ravel(),
            "topic": [f"t{i}" for i in t.ravel()], "template": [f"m{i}" for i in p.ravel()],
            "pair_id": [f"t{i}m{j}" for i, j in zip(t.ravel(), p.ravel(), strict=True)],
            "prompt_id": [f"t{i}m{j}{side}" for i, j in zip(t.ravel(), p.ravel(), strict=True)],
            "label": np.where(ref.ravel(), "refusal", "compliance")}))
    return pd.concat(parts, ignore_index=True)


def check_against_summary(ref_a: np.ndarray, ref_b: np.ndarray) -> None:
    """Assert the bench's intervals equal the headline rows of ``summary_table``."""
    summary = metrics.summary_table(to_frame(ref_a, ref_b)).set_index("metric")
    mine = intervals(ref_a, ref_b)
    keys = {"refusal_rate": "refusal_rate/kg-cp(topic)",
            "asymmetric_refusal_rate": "asymmetric_refusal_rate/kg-cp(topic)",
            "net_direction": "net_direction/bonett-price(topic deff)",
            "net_direction_cluster_t": "net_direction/cluster-t(topic)"}
    for metric, key in keys.items():
        if summary.loc[metric, "method"] == key.split("/")[1]:
            got = (summary.loc[metric, "ci_low"], summary.loc[metric, "ci_high"])
            assert np.allclose(got, mine[key], equal_nan=True), (metric, got, mine[key])


def size(s: Scenario, reps: int, rng: np.random.Generator) -> dict[str, float]:
    """Rejection rate at α = 0.05 of each direction test (θ should be 0.5: no direction)."""
    rejected: dict[str, int] = {}
    for _ in range(reps):
        for key, p in tests(*simulate(rng, s)[:2]).items():
            rejected[key] = rejected.get(key, 0) + int(p < 0.05)
    return {key: count / reps for key, count in rejected.items()}


def run(s: Scenario, reps: int, rng: np.random.Generator) -> dict[str, float]:
    """Empirical coverage of each interval over ``reps`` replicates."""
    truth = truths(s)
    hits: dict[str, int] = {}
    for rep in range(reps):
        ref_a, ref_b = simulate(rng, s)[:2]
        if rep == 0:
            check_against_summary(ref_a, ref_b)
        for key, (low, high) in intervals(ref_a, ref_b).items():
            value = truth[key.split("/")[0]]
            hits[key] = hits.get(key, 0) + int(low <= value <= high)
    return {key: count / reps for key, count in hits.items()}


def big_frame(answers: int, rng: np.random.Generator) -> pd.DataFrame:
    """A labelled responses frame of ``answers`` rows: 2 targets, 200 topics, 2 samples."""
    pairs = answers // 8  # per target and sample: 2 targets × 2 samples × 2 sides
    ids = pd.Series(np.arange(pairs)).astype(str)
    labels = np.array(["compliance", "refusal", "partial_refusal", "error", "truncated"])
    parts = []
    for target, sample, side in itertools.product(("m1", "m2"), (0, 1), ("a", "b")):
        parts.append(pd.DataFrame({
            "run_id": "bench", "target": target, "model": target, "pair_id": "p" + ids,
            "prompt_id": "p" + ids + side, "side": side, "topic": "t" + (ids.str[-2:]),
            "category": "c", "template": "m" + ids.str[-1], "stance": side,
            "lean": "left" if side == "a" else "right", "kind": "contested", "sample": sample,
            "label": rng.choice(labels, pairs, p=[0.8, 0.07, 0.1, 0.02, 0.01]),
            "truncated": False}))
    return pd.concat(parts, ignore_index=True)


def timing(answers: int, rng: np.random.Generator) -> float:
    """Seconds for ``metrics.audit_tables`` (summary, pairs, topics) on ``answers`` rows."""
    frame = big_frame(answers, rng)
    start = time.perf_counter()
    metrics.audit_tables(frame)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Print the coverage table, one figure per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timing-answers", type=int, default=1_000_000,
                        help="answers for the timing line (0 skips it)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    print(f"# {args.reps} replicates per scenario; 40 topics x 6 templates; 95% intervals")
    targets: list[tuple[str, bool]] = []
    for samples in (1, 3):
        for rate in (0.01, 0.02, 0.07):
            s = Scenario(rate=rate, samples=samples)
            print(f"# rate={rate:.2f} samples={samples}: true DEFF {true_deff(s, rng):.2f}")
            for key, cov in run(s, args.reps, rng).items():
                label = f"rate={rate:.2f} samples={samples} {key}"
                print(f"coverage {label} {cov:.3f}")
                if key in HEADLINE:
                    targets.append(coverage_target(label, cov, args.reps))
    for samples, rate, lean in itertools.product((1, 3), (0.02, 0.07), ("topic", "none")):
        # lean=topic: each topic leans (θ_k ~ Beta, mean ½): no direction on average over
        # topics, the null of the topic-clustered test. lean=none: θ = ½ everywhere, the null
        # of the prompt-level tests (this fixed prompt set has no direction).
        kappa = Scenario.kappa_direction if lean == "topic" else 1e12
        s = Scenario(rate=rate, samples=samples, theta=0.5, kappa_direction=kappa)
        for key, rej in size(s, args.reps, rng).items():
            label = f"rate={rate:.2f} samples={samples} theta=0.5 lean={lean} {key}"
            print(f"size {label} {rej:.3f}")
            if key == "durkalski" or (key in SIZE_TESTS and lean == "none"):
                targets.append(size_target(label, rej, args.reps))
    for line, _ in targets:
        print(line)
    passed = sum(ok for _, ok in targets)
    print(f"targets passed {passed} of {len(targets)} (coverage band "
          f"{COVERAGE_BAND[0]:.2f}-{COVERAGE_BAND[1]:.2f} for headline intervals; size <= "
          f"alpha + 2 mc_se for the reported direction tests)")
    if args.timing_answers:
        seconds = timing(args.timing_answers, rng)
        print(f"timing answers={args.timing_answers} audit_tables_seconds {seconds:.2f}")
    print(f"# elapsed {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
