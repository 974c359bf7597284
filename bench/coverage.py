"""Coverage benchmark: interval coverage and width, and claim verdicts at the boundary.

Not a unit test (about three minutes on one core at the default 3,000 replicates; Monte Carlo
SE 0.004 at 95% coverage). Run it with::

    .venv/bin/python bench/coverage.py [--reps 3000] [--seed 1]

Each replicate is an audit of ``topics`` × ``templates`` mirrored pairs with ``samples`` samples
per prompt; scenarios: 15, 40 and 120 topics × 1 and 3 samples × true rates 1%, 2%, 7%.
Refusals are clustered: a topic's rate is Beta(mean p, concentration κ_topic), a prompt's
(pair's) rate is Beta(mean topic rate, κ_prompt) and is shared by both sides and all samples of
the pair; side A refuses with probability 2θ·rate and side B with 2(1−θ)·rate. Those Beta
moments give the true values exactly:

- refusal rate p;
- net direction δ = E[p_A − p_B] = 2p(2θ − 1);
- asymmetric rate E[p_A + p_B − 2p_A p_B] = 2p − 8θ(1−θ)E[r²] with E[r²] from the two Betas.

All replicates of a scenario are computed at once (vectorised numpy; the random-effect
posterior of ``audit.stats._boundary`` on all of them); the first replicate of each scenario is
checked against ``summary_table`` and ``evaluate_claims``. Output is one figure per line.
``target`` lines check the issue's targets, each PASS or FAIL:

- coverage: every reported interval (refusal and asymmetric rates, net direction) covers at
  least 0.95 − 2 Monte Carlo SE in every scenario; its mean width is printed beside it;
- boundary: a claim "rate < v" with v equal to the true rate is found consistent at most
  0.05 + 2 Monte Carlo SE of the time (and "rate > v" mirrored), for the refusal and the
  asymmetric rate in every scenario;
- size: the reported direction tests reject at most α + 2 Monte Carlo SE under no direction.
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
from scipy import special
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.stats import _intervals as stats
from audit.stats import _tables as metrics
from audit.stats._boundary import random_effect_quantiles
from audit.stats._claims import evaluate_claims, parse_claim


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


def beta(rng: np.random.Generator, mean: np.ndarray, kappa: float) -> np.ndarray:
    """Beta draws with the given means and concentration."""
    mean = np.clip(mean, 1e-9, 1 - 1e-9)
    return rng.beta(mean * kappa, (1 - mean) * kappa)


def simulate(rng: np.random.Generator, s: Scenario, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """Refusals of side A and B, shape (reps, topics, templates, samples)."""
    topic_rate = beta(rng, np.full((reps, s.topics), s.rate), s.kappa_topic)
    pair_rate = beta(rng, np.repeat(topic_rate[:, :, None], s.templates, axis=2), s.kappa_prompt)
    theta = beta(rng, np.full((reps, s.topics), s.theta), s.kappa_direction)[:, :, None]
    shape = (reps, s.topics, s.templates, s.samples)
    p_a = np.minimum(1.0, 2 * theta * pair_rate)[..., None]
    p_b = np.minimum(1.0, 2 * (1 - theta) * pair_rate)[..., None]
    return rng.random(shape) < p_a, rng.random(shape) < p_b


@dataclass(frozen=True)
class Counts:
    """Per-topic counts of every replicate, shape (reps, topics)."""

    y: np.ndarray  # refused answers
    n: np.ndarray  # answers
    b: np.ndarray  # pairs (× samples) where only A refused
    c: np.ndarray  # only B refused
    m: np.ndarray  # pairs (× samples)


def counts(ref_a: np.ndarray, ref_b: np.ndarray) -> Counts:
    """Per-topic counts of simulated refusals."""
    per_topic = float(ref_a.shape[2] * ref_a.shape[3])
    y = (ref_a.sum(axis=(2, 3)) + ref_b.sum(axis=(2, 3))).astype(float)
    b = (ref_a & ~ref_b).sum(axis=(2, 3)).astype(float)
    c = (ref_b & ~ref_a).sum(axis=(2, 3)).astype(float)
    return Counts(y, np.full(y.shape, 2 * per_topic), b, c, np.full(y.shape, per_topic))


def kg_limits(y: np.ndarray, n: np.ndarray, lower: float, upper: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised KG-CP limits at beta levels ``lower`` and ``upper`` on the two-sided 95% n*
    (what ``stats.kg_ci`` and the claims use)."""
    topics = y.shape[1]
    total = n.sum(axis=1)
    p = y.sum(axis=1) / total
    v = topics / (topics - 1) * ((y - p[:, None] * n) ** 2).sum(axis=1) / total**2
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.where((p > 0) & (p < 1), np.maximum(1.0, v / (p * (1 - p) / total)), 1.0)
    z = sps.norm.ppf(0.975)
    n_star = total / deff * (z / sps.t.ppf(0.975, topics - 1)) ** 2
    x = p * n_star
    low = np.where(x <= 0, 0.0, special.betaincinv(np.maximum(x, 1e-300), n_star - x + 1, lower))
    high = np.where(x >= n_star, 1.0, special.betaincinv(x + 1, np.maximum(n_star - x, 1e-300),
                                                         upper))
    return low, high


def rate_limits(y: np.ndarray, n: np.ndarray) -> dict[str, np.ndarray]:
    """KG-CP and shipped (KG-CP ∪ random effect) limits: two-sided 95% and one-sided 95%."""
    kg2, kg1 = kg_limits(y, n, 0.025, 0.975), kg_limits(y, n, 0.05, 0.95)
    q = random_effect_quantiles(y, n, (0.025, 0.05, 0.95, 0.975))
    return {"kg_low": kg2[0], "kg_high": kg2[1], "kg_low1": kg1[0], "kg_high1": kg1[1],
            "low": np.minimum(kg2[0], q[0]), "high": np.maximum(kg2[1], q[3]),
            "low1": np.minimum(kg1[0], q[1]), "high1": np.maximum(kg1[1], q[2])}


def net_direction_limits(c: Counts) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised topic-deff Bonett–Price limits (``stats.clustered_bp_ci``)."""
    topics = c.b.shape[1]
    total, b_sum, c_sum = c.m.sum(axis=1), c.b.sum(axis=1), c.c.sum(axis=1)
    d = c.b - c.c
    delta = d.sum(axis=1) / total
    naive = ((b_sum + c_sum) / total - delta**2) / total
    v = topics / (topics - 1) * ((d - delta[:, None] * c.m) ** 2).sum(axis=1) / total**2
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.where(naive > 0, np.maximum(1.0, v / naive), 1.0)
    p1, p2 = (b_sum + 1) / (total + 2), (c_sum + 1) / (total + 2)
    half = sps.t.ppf(0.975, topics - 1) * np.sqrt(deff * (p1 + p2 - (p1 - p2) ** 2) / (total + 2))
    return np.maximum(-1.0, p1 - p2 - half), np.minimum(1.0, p1 - p2 + half)


def intervals(c: Counts) -> dict[str, dict[str, np.ndarray]]:
    """Every interval (and the claims' one-sided bounds) per metric, over the replicates."""
    asym_y = c.b + c.c
    out = {"refusal_rate": rate_limits(c.y, c.n), "asymmetric_refusal_rate": rate_limits(asym_y, c.m)}
    for key, (y, n) in (("refusal_rate", (c.y, c.n)), ("asymmetric_refusal_rate", (asym_y, c.m))):
        out[key]["wilson_low"], out[key]["wilson_high"] = stats.wilson_bounds(y.sum(1), n.sum(1))
    low, high = net_direction_limits(c)
    out["net_direction"] = {"low": low, "high": high}
    return out


REPORTED = {"refusal_rate": "kg-cp+re(topic)", "asymmetric_refusal_rate": "kg-cp+re(topic)",
            "net_direction": "bonett-price(topic deff)"}
INFO = {"kg-cp(topic)": ("kg_low", "kg_high"), "wilson": ("wilson_low", "wilson_high")}
ALPHA = 0.05
LEVEL = 0.95


def mc_se(p: float, reps: int) -> float:
    """Monte Carlo standard error of a proportion estimated from ``reps`` replicates."""
    return float(np.sqrt(max(p * (1 - p), 1e-12) / reps))


def check_first(ref_a: np.ndarray, ref_b: np.ndarray, mine: dict[str, dict[str, np.ndarray]],
                v: dict[str, float]) -> None:
    """Assert replicate 0 equals ``summary_table`` (intervals, bounds) and its claim verdicts."""
    summary = metrics.summary_table(to_frame(ref_a[0], ref_b[0])).set_index("metric")
    for metric, method in REPORTED.items():
        row = summary.loc[metric]
        if row["method"] != method:
            continue  # a fallback (no events, no variation): named in the method
        got = (row["ci_low"], row["ci_high"])
        assert np.allclose(got, (mine[metric]["low"][0], mine[metric]["high"][0])), (metric, got)
        if metric != "net_direction":
            bounds = (row["bound_low"], row["bound_high"])
            want = (mine[metric]["low1"][0], mine[metric]["high1"][0])
            assert np.allclose(bounds, want), (metric, bounds, want)
            claim = parse_claim(f"{metric} < {v[metric]}")
            verdict = evaluate_claims(summary.reset_index(), [claim], calibration={})
            consistent = str(verdict["verdict"].iloc[0]).startswith("consistent")
            assert consistent == bool(want[1] < v[metric]), (metric, verdict["verdict"].iloc[0])


def coverage_lines(s: Scenario, lim: dict[str, dict[str, np.ndarray]], reps: int
                   ) -> tuple[list[str], list[tuple[str, bool]]]:
    """Coverage and mean width of each interval; a target line per reported interval."""
    truth, lines, targets = truths(s), [], []
    floor = LEVEL - 2 * mc_se(LEVEL, reps)
    label = f"topics={s.topics} samples={s.samples} rate={s.rate:.2f}"
    for metric, parts in lim.items():
        v = truth[metric]
        shown = [(REPORTED[metric], "low", "high")]
        shown += [(name, lo, hi) for name, (lo, hi) in INFO.items() if lo in parts]
        for name, lo, hi in shown:
            cov = float(np.mean((parts[lo] <= v) & (v <= parts[hi])))
            width = float(np.mean(parts[hi] - parts[lo]))
            lines.append(f"coverage {label} {metric}/{name} {cov:.3f} width {width:.4f}")
            if name == REPORTED[metric]:
                ok = cov >= floor
                targets.append(((f"target coverage {label} {metric}/{name} {cov:.3f} width "
                                f"{width:.4f} floor {floor:.3f} {'PASS' if ok else 'FAIL'}"), ok))
    return lines, targets


def boundary_lines(s: Scenario, lim: dict[str, dict[str, np.ndarray]], reps: int
                   ) -> tuple[list[str], list[tuple[str, bool]]]:
    """False "consistent" rates of "< v" and "> v" claims when the true rate is v."""
    truth, lines, targets = truths(s), [], []
    limit = ALPHA + 2 * mc_se(ALPHA, reps)
    label = f"topics={s.topics} samples={s.samples} rate={s.rate:.2f}"
    for metric in ("refusal_rate", "asymmetric_refusal_rate"):
        v, parts = truth[metric], lim[metric]
        for rel, shipped, kg in (("<", parts["high1"] < v, parts["kg_high1"] < v),
                                 (">", parts["low1"] > v, parts["kg_low1"] > v)):
            rate, kg_rate = float(np.mean(shipped)), float(np.mean(kg))
            lines.append(f"boundary {label} {metric} {rel} true: false consistent "
                         f"kg-cp(topic) {kg_rate:.3f} kg-cp+re(topic) {rate:.3f}")
            ok = rate <= limit
            targets.append(((f"target boundary {label} {metric} {rel} true {rate:.3f} limit "
                            f"{limit:.3f} {'PASS' if ok else 'FAIL'}"), ok))
    return lines, targets


def size(s: Scenario, reps: int, rng: np.random.Generator) -> dict[str, float]:
    """Rejection rate at α = 0.05 of each direction test (θ should be 0.5: no direction).

    ``mcnemar-exact(rows)`` counts pair × sample rows as independent; ``sign-test(pairs)`` is
    what the summary reports (exact McNemar with one sample, the sign test on pairs with
    several); ``durkalski`` is the topic-clustered test.
    """
    ref_a, ref_b = simulate(rng, s, reps)
    only_a, only_b = ref_a & ~ref_b, ref_b & ~ref_a
    b, c = only_a.sum(axis=(2, 3)), only_b.sum(axis=(2, 3))
    b_pair, c_pair = only_a.sum(axis=3), only_b.sum(axis=3)
    lean_a = (b_pair > c_pair).sum(axis=(1, 2))
    lean_b = (c_pair > b_pair).sum(axis=(1, 2))
    d = (b - c).astype(float)
    ss = (d**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        durk = np.where(ss > 0, sps.chi2.sf(d.sum(axis=1) ** 2 / ss, 1), 1.0)
    total_b, total_c = b.sum(axis=1), c.sum(axis=1)
    low, m = np.minimum(total_b, total_c), total_b + total_c
    midp = np.minimum(1.0, 2 * (sps.binom.cdf(low, m, 0.5) - 0.5 * sps.binom.pmf(low, m, 0.5)))
    p_values = {"mcnemar-exact(rows)": stats.mcnemar_exact_p(total_b, total_c),
                "sign-test(pairs)": stats.mcnemar_exact_p(lean_a, lean_b),
                "mcnemar-midp(rows)": np.where(m > 0, midp, 1.0), "durkalski": durk}
    return {key: float(np.mean(p < ALPHA)) for key, p in p_values.items()}


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


def scenario_lines(s: Scenario, reps: int, rng: np.random.Generator
                   ) -> tuple[list[str], list[tuple[str, bool]]]:
    """Coverage and boundary lines (and targets) of one scenario."""
    ref_a, ref_b = simulate(rng, s, reps)
    lim = intervals(counts(ref_a, ref_b))
    check_first(ref_a, ref_b, lim, truths(s))
    cov_lines, cov_targets = coverage_lines(s, lim, reps)
    bound_lines, bound_targets = boundary_lines(s, lim, reps)
    return cov_lines + bound_lines, cov_targets + bound_targets


def size_lines(reps: int, rng: np.random.Generator) -> tuple[list[str], list[tuple[str, bool]]]:
    """Direction tests' sizes (40 topics) and their targets."""
    lines, targets = [], []
    for samples, rate, lean in itertools.product((1, 3), (0.02, 0.07), ("topic", "none")):
        # lean=topic: each topic leans (θ_k ~ Beta, mean ½): no direction on average over
        # topics, the null of the topic-clustered test. lean=none: θ = ½ everywhere, the null
        # of the prompt-level tests (this fixed prompt set has no direction).
        kappa = Scenario.kappa_direction if lean == "topic" else 1e12
        s = Scenario(rate=rate, samples=samples, theta=0.5, kappa_direction=kappa)
        for key, rej in size(s, reps, rng).items():
            label = f"rate={rate:.2f} samples={samples} theta=0.5 lean={lean} {key}"
            lines.append(f"size {label} {rej:.3f}")
            if key == "durkalski" or (key == "sign-test(pairs)" and lean == "none"):
                targets.append(size_target(label, rej, reps))
    return lines, targets


def main(argv: list[str] | None = None) -> None:
    """Print the coverage, boundary and size figures and targets, one per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timing-answers", type=int, default=1_000_000,
                        help="answers for the timing line (0 skips it)")
    parser.add_argument("--no-stance", action="store_true",
                        help="skip the stance and ratio intervals (bench/stance_coverage.py, about 2 min)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    print(f"# {args.reps} replicates per scenario; 6 templates per topic; 95% intervals")
    targets: list[tuple[str, bool]] = []
    for topics, samples, rate in itertools.product((15, 40, 120), (1, 3), (0.01, 0.02, 0.07)):
        lines, found = scenario_lines(Scenario(rate=rate, samples=samples, topics=topics),
                                      args.reps, rng)
        print("\n".join(lines), flush=True)
        targets += found
    lines, found = size_lines(args.reps, rng)
    print("\n".join(lines))
    for line, _ in targets + found:
        print(line)
    for kind in ("coverage", "boundary", "size"):
        mine = [ok for line, ok in targets + found if line.startswith(f"target {kind}")]
        print(f"targets {kind} passed {sum(mine)} of {len(mine)}")
    if args.timing_answers:
        seconds = timing(args.timing_answers, rng)
        print(f"timing answers={args.timing_answers} audit_tables_seconds {seconds:.2f}")
    if not args.no_stance:  # the stance figures' and the ratio claims' intervals (issue 16)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import stance_coverage

        stance_coverage.main(["--reps", str(args.reps), "--seed", str(args.seed)])
    print(f"# elapsed {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
