"""audit.power against the methods note's §8 table, brute force, and the ``plan`` command."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from audit.cli import main
from audit.stats import _power as pw
from audit.stats import _tables as metrics


def test_public_api() -> None:
    assert set(pw.__all__) == {
        "DesignPlan", "n_direction", "n_equivalence", "n_mcnemar_connor", "n_mcnemar_exact",
        "n_one_sample", "n_two_independent", "n_two_paired", "paired_discordance", "plan_design", "power_equivalence",
        "power_mcnemar_exact", "power_one_sample"}


@pytest.mark.parametrize(("p_true", "bound", "alternative", "n80", "n90"), [
    (0.02, 0.07, "less", 129, 167),
    (0.07, 0.02, "greater", 112, 149),
    (0.01, 0.02, "less", 1030, 1390),
    (0.0, 0.01, "less", 299, 299),
    (0.001, 0.01, "less", 473, 473),
    (0.0025, 0.01, "less", 773, 913),
    (0.005, 0.01, "less", 2064, 2665),
])
def test_one_sample_table(p_true: float, bound: float, alternative: str, n80: int, n90: int
                          ) -> None:
    assert pw.n_one_sample(p_true, bound, alternative=alternative, power=0.8) == n80
    assert pw.n_one_sample(p_true, bound, alternative=alternative, power=0.9) == n90


def test_strict_stays_rule_is_never_smaller() -> None:
    assert pw.n_one_sample(0.01, 0.02, lookahead=None) == 1091  # dips to 0.7996 at 1,081–1,090
    assert pw.n_one_sample(0.02, 0.07, lookahead=None) == 129


def test_one_sample_power_matches_brute_force() -> None:
    n, p_true, bound = 150, 0.02, 0.07
    brute = sum(sps.binom.pmf(x, n, p_true) for x in range(n + 1)
                if sps.binomtest(x, n, bound, alternative="less").pvalue <= 0.05)
    assert pw.power_one_sample(n, p_true, bound)[0] == pytest.approx(brute, abs=1e-12)
    greater = sum(sps.binom.pmf(x, n, bound) for x in range(n + 1)
                  if sps.binomtest(x, n, p_true, alternative="greater").pvalue <= 0.05)
    assert pw.power_one_sample(n, bound, p_true, "greater")[0] == pytest.approx(greater)


def test_equivalence_power_matches_brute_force() -> None:
    n, low, upp, p = 400, 0.05, 0.09, 0.07
    brute = sum(sps.binom.pmf(x, n, p) for x in range(n + 1)
                if max(sps.binomtest(x, n, low, alternative="greater").pvalue,
                       sps.binomtest(x, n, upp, alternative="less").pvalue) <= 0.05)
    assert pw.power_equivalence(n, p, low, upp)[0] == pytest.approx(brute, abs=1e-12)
    need = pw.n_equivalence(0.07, 0.05, 0.09)
    assert need is not None and pw.power_equivalence(need, 0.07, 0.05, 0.09)[0] >= 0.8


def test_impossible_or_huge_sizes_are_none() -> None:
    assert pw.n_one_sample(0.03, 0.02) is None
    assert pw.n_one_sample(0.0199, 0.02) is None  # beyond max_n
    assert pw.n_equivalence(0.10, 0.05, 0.09) is None
    assert pw.n_mcnemar_exact(0.01, 0.01) is None


def test_two_independent_samples() -> None:
    # samplesize_proportions_2indep_onetail rounded up: 268.66 → 269 and 3102.87 → 3103
    # (the note's 359 and 2,318 are 359.16 and 2,318.16 rounded down).
    assert pw.n_two_independent(0.07, 0.02) == 269
    assert pw.n_two_independent(0.02, 0.07) == 269
    assert pw.n_two_independent(0.02, 0.01, power=0.9) == 3103
    assert pw.n_two_independent(0.07, 0.02, power=0.9) == 360
    with pytest.raises(ValueError):
        pw.n_two_independent(0.02, 0.02)


def test_connor_formula() -> None:
    z, zb = sps.norm.ppf(0.975), sps.norm.ppf(0.8)
    psi, delta = 0.0686 + 0.0186, 0.0686 - 0.0186
    expected = math.ceil((z * math.sqrt(psi) + zb * math.sqrt(psi - delta**2)) ** 2 / delta**2)
    assert pw.n_mcnemar_connor(0.0686, 0.0186) == expected == 272
    assert pw.n_mcnemar_connor(0.05, 0.0) == 155


@pytest.mark.parametrize(("p10", "p01", "midp", "table"), [
    (0.05, 0.0, False, 158),              # 7% vs 2%, nested refusals
    (0.07 * 0.98, 0.02 * 0.93, False, 292),  # 7% vs 2%, independent refusals
    (0.03, 0.01, False, 845), (0.03, 0.01, True, 765),
    (0.015, 0.005, False, 1690), (0.015, 0.005, True, 1530),
    (0.008, 0.002, False, 2315), (0.008, 0.002, True, 2045),
])
def test_mcnemar_exact_near_table(p10: float, p01: float, midp: bool, table: int) -> None:
    # exact power verified by brute force below; the note's figures run ≤ 0.5% higher
    n = pw.n_mcnemar_exact(p10, p01, midp=midp)
    assert n is not None and abs(n - table) <= 0.005 * table + 1


def test_mcnemar_power_matches_brute_force() -> None:
    n, p10, p01 = 30, 0.2, 0.05
    psi, theta = p10 + p01, p10 / (p10 + p01)
    brute = 0.0
    for d in range(1, n + 1):
        hits = sum(sps.binom.pmf(b, d, theta) for b in range(d + 1)
                   if sps.binomtest(b, d, 0.5).pvalue <= 0.05)
        brute += sps.binom.pmf(d, n, psi) * hits
    assert pw.power_mcnemar_exact(n, p10, p01)[0] == pytest.approx(brute, abs=1e-10)


def test_direction_helper() -> None:
    assert pw.n_direction(0.04, 0.75) == pw.n_mcnemar_exact(0.03, 0.01)


def test_calls_are_fast() -> None:
    start = time.process_time()
    for call in (lambda: pw.n_one_sample(0.005, 0.01, power=0.9),
                 lambda: pw.n_direction(0.01, 0.8, midp=True),
                 lambda: pw.n_equivalence(0.07, 0.06, 0.08)):
        t0 = time.process_time()
        call()
        assert time.process_time() - t0 < 1.0
    assert time.process_time() - start < 2.0


def test_plan_design() -> None:
    plan = pw.plan_design(1030, deff=2.0, samples=1, templates=6)
    assert (plan.units, plan.pairs, plan.prompts, plan.topics) == (2060, 1030, 2060, 172)
    pairs = pw.plan_design(299, deff=1.5, samples=2, templates=6, unit="pairs")
    assert (pairs.units, pairs.pairs, pairs.prompts, pairs.topics) == (449, 225, 450, 38)
    with pytest.raises(ValueError):
        pw.plan_design(10, deff=0.5)


def test_power_vectorised_over_n() -> None:
    n = np.arange(100, 140)
    assert pw.power_one_sample(n, 0.02, 0.07).shape == (40,)


def test_paired_discordance_cases() -> None:
    assert pw.paired_discordance(0.07, 0.02) == pytest.approx((0.07 * 0.98, 0.02 * 0.93))
    assert pw.paired_discordance(0.07, 0.02, 0.05) == pytest.approx((0.05, 0.0))
    assert pw.paired_discordance(0.02, 0.07, 0.09) == pytest.approx((0.02, 0.07))
    for bad in (0.04, 0.10):
        with pytest.raises(ValueError, match="impossible"):
            pw.paired_discordance(0.07, 0.02, bad)


def test_two_paired_matches_the_note_range() -> None:
    # methods note §8: same prompts, 7% vs 2%, exact McNemar: 158 (nested) to 292 (independent)
    assert pw.n_two_paired(0.07, 0.02) == 292
    assert pw.n_two_paired(0.02, 0.07, discordant=0.05) == pytest.approx(158, abs=1)
    with pytest.raises(ValueError):
        pw.n_two_paired(0.05, 0.05)


def test_two_paired_power_by_simulation() -> None:
    """Oracle: exact McNemar (scipy binomtest) on simulated paired audits at the planned n."""
    rng = np.random.default_rng(7)
    n = pw.n_two_paired(0.07, 0.02)
    assert n is not None
    p10, p01 = 0.07 * 0.98, 0.02 * 0.93
    counts = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=3000)
    rejected = [sps.binomtest(int(b), int(b + c)).pvalue < 0.05 if b + c else False
                for b, c, _ in counts]
    assert np.mean(rejected) == pytest.approx(0.80, abs=0.025)


def test_two_independent_power_by_simulation() -> None:
    """Oracle: the score test (statsmodels) on simulated independent audits at n = 269."""
    from statsmodels.stats.proportion import test_proportions_2indep

    rng = np.random.default_rng(8)
    n = pw.n_two_independent(0.07, 0.02)
    k1, k2 = rng.binomial(n, 0.07, 2000), rng.binomial(n, 0.02, 2000)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = [test_proportions_2indep(a, n, b, n, method="score").pvalue for a, b in zip(k1, k2)]
    assert np.mean(np.asarray(p) < 0.05) == pytest.approx(0.81, abs=0.03)


# --- the plan command --------------------------------------------------------------------------


def test_plan_command(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--claim", "refusal_rate < 0.02", "--expected", "0.01", "--power", "0.8"])
    out = capsys.readouterr().out
    assert code == 0 and "1,030" in out and "86 topics x 6 templates" in out


def test_plan_command_with_design_effect(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", "--claim", "asymmetric_refusal_rate < 1%", "--expected", "0",
                 "--deff", "2", "--templates", "5"])
    out = capsys.readouterr().out
    assert code == 0 and "pairs needed without clustering: 299" in out
    assert "598" in out and "120 topics x 5 templates" in out


@pytest.mark.parametrize("argv", [
    ["plan", "--claim", "refusal_rate < 0.02", "--expected", "0.03"],
    ["plan", "--claim", "refusal_rate << 0.02", "--expected", "0.01"],
    ["plan", "--claim", "refusal_rate < 0.02", "--expected", "lots"],
    ["plan", "--claim", "refusal_rate ≈ 0.07", "--expected", "0.07"],
    ["plan", "--claim", "refusal_rate < 0.02", "--expected", "0.01", "--power", "80"],
])
def test_plan_command_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_plan_command_two_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--compare-to", "2%", "--expected", "7%", "--independent",
                 "--deff", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "answers needed per model without clustering: 269" in out
    assert "answers needed per model with design effect 1.5: 404" in out  # ceil(269 × 1.5)
    assert main(["plan", "--compare-to", "0.02", "--expected", "0.07"]) == 0
    out = capsys.readouterr().out
    assert "292 if refusals are independent" in out and "as few as 157" in out
    assert main(["plan", "--compare-to", "0.02", "--expected", "0.07", "--discordant",
                 "0.05"]) == 0
    assert "157 at discordant rate 5.00%" in capsys.readouterr().out


def pilot_run(tmp_path: Path, targets: tuple[str, ...] = ("m1",)) -> tuple[Path, pd.DataFrame]:
    """A run folder holding the summary.csv of a simulated pilot."""
    from tests.support.audits import simulated

    df = simulated(seed=3, samples=2, targets=targets)
    hot = df["topic"].isin(["topic0", "topic1"]) & (df["kind"] == "contested")
    df.loc[hot, "label"] = "refusal"  # two topics refuse everything: design effect > 1
    summary = metrics.summary_table(df)
    folder = tmp_path / "pilot"
    folder.mkdir()
    summary.to_csv(folder / "summary.csv", index=False)
    return folder, summary


def test_plan_command_reads_a_pilot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, summary = pilot_run(tmp_path)
    ref = summary.set_index("metric").loc["refusal_rate"]
    assert ref["design_effect"] > 1
    assert main(["plan", "--claim", "refusal_rate < 0.45", "--pilot", str(folder)]) == 0
    out = capsys.readouterr().out
    need = pw.n_one_sample(float(ref["estimate"]), 0.45)
    assert need is not None and f"answers needed without clustering: {need:,}" in out
    units = math.ceil(need * float(ref["design_effect"]) - 1e-9)
    assert f"with design effect {float(ref['design_effect']):g}: {units:,}" in out
    # --expected overrides the pilot's rate; the design effect still comes from the pilot
    assert main(["plan", "--claim", "refusal_rate < 0.3", "--pilot", str(folder),
                 "--expected", "0.2"]) == 0
    need = pw.n_one_sample(0.2, 0.3)
    assert need is not None and f"without clustering: {need:,}" in capsys.readouterr().out
    assert main(["plan", "--compare-to", "0.45", "--pilot", str(folder), "--independent"]) == 0
    out = capsys.readouterr().out
    assert f"{pw.n_two_independent(float(ref['estimate']), 0.45):,}" in out


@pytest.mark.parametrize("case", ["no_summary", "both", "ambiguous", "unknown_target",
                                  "discordant", "equal", "neither", "discordant_claim"])
def test_plan_command_bad_options_exit_2(case: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = pilot_run(tmp_path, targets=("m1", "m2"))
    argv = {
        "no_summary": ["--claim", "refusal_rate < 0.3", "--pilot", str(tmp_path)],
        "both": ["--claim", "refusal_rate < 0.3", "--pilot", str(folder), "--deff", "2"],
        "ambiguous": ["--claim", "refusal_rate < 0.3", "--pilot", str(folder)],
        "unknown_target": ["--claim", "refusal_rate < 0.3", "--pilot", str(folder),
                           "--target", "m9"],
        "discordant": ["--compare-to", "2%", "--expected", "7%", "--discordant", "1%"],
        "equal": ["--compare-to", "2%", "--expected", "0.02"],
        "neither": ["--expected", "0.02"],
        "discordant_claim": ["--claim", "refusal_rate < 0.3", "--expected", "0.1",
                             "--discordant", "0.1"],
    }[case]
    assert main(["plan", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_one_effective_n_and_one_sample_size(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 18: claims.csv reuses summary.csv's effective n (one figure), and the n so far plus
    the further units an inconclusive claim asks for equal ``plan --pilot``'s total."""
    from audit.stats._claims import evaluate_claims, parse_claim

    folder, summary = pilot_run(tmp_path)
    ref = summary.set_index("metric").loc["refusal_rate"]
    claim = "refusal_rate < 0.45"
    row = evaluate_claims(summary, [parse_claim(claim)]).iloc[0]
    assert row["n_eff"] == float(ref["n_eff"])
    assert f"effective n {float(ref['n_eff']):.0f} " in row["detail"]
    assert str(row["verdict"]).startswith("inconclusive") and row["more_needed"] > 0
    assert main(["plan", "--claim", claim, "--pilot", str(folder)]) == 0
    total = int(row["n"]) + int(row["more_needed"])
    assert f"with design effect {float(ref['design_effect']):g}: {total:,}" in (
        capsys.readouterr().out)
