"""CLI commands: ``plan`` (sample size for a claim) and ``compare`` (two runs or two targets)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer

from audit.csvio import read_csv, write_csv
from audit.errors import ConfigError, InputError

if TYPE_CHECKING:  # scipy and statsmodels load when a command runs, not when the CLI starts
    from audit.stats import _power as pw
    from audit.stats._claims import Claim

_OUTPUT = Path("comparison.csv")


def _proportion(text: str, option: str) -> float:
    """A proportion from '0.01' or '1%'; ConfigError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*", text or "")
    value = float(match.group(1)) / (100 if match.group(2) else 1) if match else -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{option} {text!r} is not a rate: give a proportion such as 0.01 "
                          "or a percentage such as 1%")
    return value


def _units_needed(claim: Claim, expected: float, power: float, alpha: float) -> int:
    """Exact sample size for the claim at the expected rate, or ConfigError."""
    from audit.stats import _power as pw
    if claim.relation == "≈":
        need = pw.n_equivalence(expected, claim.value - claim.margin, claim.value + claim.margin,
                                alpha=alpha, power=power)
    else:
        side = "less" if claim.relation == "<" else "greater"
        need = pw.n_one_sample(expected, claim.value, alternative=side, alpha=alpha, power=power)
    if need is None:
        raise ConfigError(
            f"no feasible sample size shows {claim.text} when the expected rate is "
            f"{expected:g}: pick an expected rate inside the claimed range (or a claim the "
            "model can meet)")
    return need


def _plan_lines(claim: Claim, expected: float, need: int, plan: pw.DesignPlan,
                power: float, held: int | None = None) -> list[str]:
    """The text printed by ``plan`` for a claim."""
    unit = claim.unit
    return [
        f"claim: {claim.text}   expected rate: {expected:.2%}   power: {power:.0%}",
        f"{unit} needed without clustering: {need:,}",
        *_layout_lines(unit, plan, held=held),
    ]


def _layout_lines(unit: str, plan: pw.DesignPlan, each: str = "", held: int | None = None) -> list[str]:
    """The design-effect, prompt and topic lines of a plan; a warning on stderr when the plan
    needs more pairs than the prompt set (``held``) holds."""
    if held is not None and plan.pairs > held:
        typer.secho(f"warning: the plan needs {plan.pairs:,} mirrored pairs{each} but the prompt set holds "
                    f"{held:,}: use more samples per prompt (--samples, temperature > 0), a larger set, "
                    "or accept less power", err=True, fg="yellow")
    return [
        f"{unit} needed{each} with design effect {plan.design_effect:g}: {plan.units:,}",
        (f"prompts needed{each}: {plan.prompts:,} ({plan.pairs:,} mirrored pairs, "
         f"{plan.samples} sample(s) per prompt)"),
        f"layout: {plan.topics:,} topics x {plan.templates} templates (2 sides each)",
    ]


def _pilot(folder: Path, metric: str, target: str | None) -> tuple[float, float, str]:
    """(observed rate, design effect, description) of ``metric`` in a pilot run's summary.csv.

    The design effect is the row's topic design effect (``design_effect`` column of the
    Korn–Graubard headline row); 1 when it could not be estimated.
    """
    path = folder / "summary.csv"
    if not path.is_file():
        raise InputError(path, None, "no summary.csv here",
                         "pass --pilot a run folder (reports/<run-id>/) of a finished run")
    try:
        summary = read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, None, f"cannot read the CSV ({exc})",
                         "regenerate it with refusal-audit") from exc
    missing = {"target", "metric", "estimate", "design_effect", "n"} - set(summary.columns)
    if missing:
        raise InputError(path, None, f"missing column(s) {sorted(missing)}",
                         "regenerate it with this version of refusal-audit")
    rows = summary[summary["metric"].astype(str) == metric]
    found = sorted(rows["target"].astype(str).unique())
    if target is not None:
        rows = rows[rows["target"].astype(str) == target]
    if rows.empty or (target is None and len(found) > 1):
        hint = (f"choose one with --target (it has {found})" if found
                else "pick a metric the run reports")
        raise ConfigError(f"the pilot {folder} has no single {metric!r} row for "
                          f"{target or 'its target'}: {hint}")
    row = rows.iloc[0]
    rate, deff = float(row["estimate"]), float(row["design_effect"])
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"the pilot {folder} has no {metric} estimate (n = {row['n']:g}): "
                          "pass --expected")
    deff = 1.0 if not deff >= 1.0 else deff
    text = (f"pilot {folder.name} ({row['target']}): {metric} {rate:.2%}, design effect "
            f"{deff:.2f} over {row['n']:g} units")
    return rate, deff, text


def _rate_and_deff(expected: str, deff: float | None, pilot: Path | None, metric: str,
                   target: str | None) -> tuple[float, float, list[str]]:
    """The expected rate and design effect from the options or the pilot run."""
    if pilot is not None and deff is not None:
        raise ConfigError("pass --deff or --pilot, not both: --pilot reads the design effect "
                          "from the pilot run")
    if pilot is None:
        if not expected:
            raise ConfigError("pass --expected RATE (or --pilot RUN_DIR to use a pilot run's "
                              "observed rate)")
        return _proportion(expected, "--expected"), 1.0 if deff is None else deff, []
    observed, pilot_deff, text = _pilot(pilot, metric, target)
    rate = _proportion(expected, "--expected") if expected else observed
    return rate, pilot_deff, [text]


def _comparison_lines(metric: str, p1: float, p2: float, paired: bool, discordant: str,
                      power: float, alpha: float) -> tuple[list[str], int]:
    """The text and unit count of a two-rate plan (two models, or two runs)."""
    from audit.stats import _power as pw
    unit = "pairs" if metric.startswith(("asymmetric", "only_", "both_")) else "answers"
    head = (f"comparison: {metric} {p1:.2%} vs {p2:.2%}   power: {power:.0%}   "
            f"two-sided α {alpha:g}")
    if not paired:
        need = pw.n_two_independent(p1, p2, alpha=alpha, power=power)
        return [head, "design: independent samples (different prompts; score test)",
                f"{unit} needed per model without clustering: {need:,}"], need
    try:
        psi = _proportion(discordant, "--discordant") if discordant else None
        nested = pw.n_two_paired(p1, p2, discordant=abs(p1 - p2), alpha=alpha, power=power)
        chosen = pw.n_two_paired(p1, p2, discordant=psi, alpha=alpha, power=power)
    except ValueError as exc:
        raise ConfigError(f"{exc}: fix --discordant") from exc
    if chosen is None or nested is None:
        raise ConfigError("no feasible sample size tells these rates apart: pick rates further "
                          "apart")
    lines = [head, "design: paired (same prompts for both; exact McNemar)"]
    if psi is None:
        lines.append(f"{unit} needed without clustering: {chosen:,} if refusals are independent "
                     f"(as few as {nested:,} if one model's refusals are a subset of the "
                     "other's; set the discordant rate with --discordant)")
    else:
        lines.append(f"{unit} needed without clustering: {chosen:,} at discordant rate "
                     f"{psi:.2%}")
    return lines, chosen


def plan(
    claim: Annotated[str, typer.Option("--claim", help='e.g. "refusal_rate < 0.02" or '
                                       '"refusal_rate ≈ 7% ± 2%"')] = "",
    expected: Annotated[str, typer.Option("--expected", help="the rate you expect, e.g. 0.01 "
                                          "or 1% (default with --pilot: the pilot's rate)")] = "",
    power: Annotated[float, typer.Option("--power", help="target power")] = 0.8,
    deff: Annotated[float | None, typer.Option("--deff", help="design effect of topics × "
                                               "templates × samples (default 1 = independent "
                                               "answers)")] = None,
    pilot: Annotated[Path | None, typer.Option("--pilot", help="a finished run folder: take "
                                               "the design effect (and, without --expected, "
                                               "the rate) from its summary.csv")] = None,
    target: Annotated[str | None, typer.Option("--target", help="the pilot's target, when it "
                                               "has several")] = None,
    compare_to: Annotated[str, typer.Option("--compare-to", help="plan a two-model (or two-run)"
                                            " comparison: the other model's rate")] = "",
    paired: Annotated[bool, typer.Option("--paired/--independent", help="with --compare-to: "
                                         "same prompts for both (exact McNemar) or different "
                                         "prompts (score test)")] = True,
    discordant: Annotated[str, typer.Option("--discordant", help="with --paired: expected "
                                            "rate of units where exactly one model "
                                            "refuses")] = "",
    metric: Annotated[str, typer.Option("--metric", help="with --compare-to: the metric "
                                        "compared (and read from --pilot)")] = "refusal_rate",
    alpha: Annotated[float, typer.Option("--alpha", help="test level (one-sided for claims, "
                                         "two-sided for comparisons)")] = 0.05,
    margin: Annotated[str, typer.Option("--margin", help="equivalence margin for ≈ "
                                        "claims")] = "",
    samples: Annotated[int, typer.Option("--samples", help="samples per prompt")] = 1,
    templates: Annotated[int | None, typer.Option("--templates", help="templates (pairs) per "
                                                  "topic (default: --prompts' own, else 6)")] = None,
    prompts: Annotated[str | None, typer.Option("--prompts", help="the prompt set to plan for: "
                                                "its templates per topic, and a warning when "
                                                "it holds too few pairs")] = None,
) -> None:
    """How many prompts an audit needs to settle a claim, or to tell two models apart.

    Claims use exact binomial power; --compare-to plans a comparison of two rates (exact
    McNemar power with --paired, the score test's sample size with --independent). Pass the
    design effect of your topics × templates × samples design (methods note §2) with --deff,
    or --pilot a finished run to read it (and the expected rate) from its summary.csv.
    """
    _check_plan_options(claim, compare_to, power, alpha, deff, samples, templates or 1, discordant,
                        paired)
    shape, head = _set_shape(prompts, templates)
    if compare_to:
        lines = _comparison_plan(compare_to, expected, deff, pilot, target, metric, paired,
                                 discordant, power, alpha, samples, shape)
    else:
        lines = _claim_plan(claim, margin, expected, deff, pilot, target, power, alpha, samples,
                            shape)
    for line in head + lines:
        typer.echo(line)


def _set_shape(prompts: str | None, templates: int | None) -> tuple[tuple[int, int | None], list[str]]:
    """(templates per topic, pairs held) for ``plan``, and a line describing the prompt set:
    --templates when given, else the set's mirrored pairs per topic (rounded), else 6."""
    if prompts is None:
        return (templates or 6, None), []
    from audit.prompts._schema import load_prompt_set

    prompt_set = load_prompt_set(prompts)
    pairs = {(p.topic, p.pair_id) for p in prompt_set.prompts if p.pair_id is not None}
    topics = len({topic for topic, _ in pairs})
    per_topic = max(1, round(len(pairs) / topics)) if topics else 1
    line = (f"prompt set {prompt_set.name}: {len(pairs):,} mirrored pairs over {topics:,} topics "
            f"({per_topic} templates per topic)")
    return (templates or per_topic, len(pairs)), [line]


def _check_plan_options(claim: str, compare_to: str, power: float, alpha: float,
                        deff: float | None, samples: int, templates: int, discordant: str,
                        paired: bool) -> None:
    """ConfigError unless ``plan``'s options are in range and ask for exactly one plan."""
    if not (0 < power < 1 and 0 < alpha < 1 and (deff is None or deff >= 1) and samples >= 1
            and templates >= 1):
        raise ConfigError("--power and --alpha must lie in (0, 1), --deff ≥ 1, --samples and "
                          "--templates ≥ 1: fix the option values")
    if bool(claim) == bool(compare_to):
        raise ConfigError("pass either --claim (one audit against a figure) or --compare-to "
                          "RATE (two models or runs)")
    if discordant and not (compare_to and paired):
        raise ConfigError("--discordant only applies to --compare-to with --paired")


def _comparison_plan(compare_to: str, expected: str, deff: float | None, pilot: Path | None,
                     target: str | None, metric: str, paired: bool, discordant: str,
                     power: float, alpha: float, samples: int, shape: tuple[int, int | None]) -> list[str]:
    """The lines ``plan --compare-to`` prints: a two-rate comparison and its layout
    (``shape``: templates per topic, and the pairs the prompt set holds if known)."""
    from audit.stats import _power as pw

    rate, design, lines = _rate_and_deff(expected, deff, pilot, metric, target)
    other = _proportion(compare_to, "--compare-to")
    if other == rate:
        raise ConfigError(f"--compare-to {compare_to} equals the expected rate: no sample "
                          "size can tell equal rates apart")
    more, need = _comparison_lines(metric, rate, other, paired, discordant, power, alpha)
    unit = "pairs" if metric.startswith(("asymmetric", "only_", "both_")) else "answers"
    layout = pw.plan_design(need, deff=design, samples=samples, templates=shape[0],
                            unit=unit)
    each = "" if paired else " per model"
    return lines + more + _layout_lines(unit, layout, each, shape[1])


def _claim_plan(claim: str, margin: str, expected: str, deff: float | None, pilot: Path | None,
                target: str | None, power: float, alpha: float, samples: int,
                shape: tuple[int, int | None]) -> list[str]:
    """The lines ``plan --claim`` prints: the sample size that settles the claim, and its layout."""
    from audit.stats import _power as pw
    from audit.stats._claims import parse_claim

    margin_value = _proportion(margin, "--margin") if margin else None
    parsed = parse_claim(claim, margin=margin_value)
    rate, design, lines = _rate_and_deff(expected, deff, pilot, parsed.metric, target)
    need = _units_needed(parsed, rate, power, alpha)
    layout = pw.plan_design(need, deff=design, samples=samples, templates=shape[0],
                            unit=parsed.unit)
    return lines + _plan_lines(parsed, rate, need, layout, power, shape[1])


def _read_run(folder: Path) -> pd.DataFrame:
    """``responses.csv`` of a run folder, all columns as text."""
    path = folder / "responses.csv"
    if not path.is_file():
        raise InputError(path, None, "no responses.csv here",
                         "pass a run folder (reports/<run-id>/) of a finished run")
    try:
        return read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, None, f"cannot read the CSV ({exc})",
                         "regenerate it with refusal-audit") from exc


def _stance_of(folder: Path, part: pd.DataFrame) -> pd.DataFrame | None:
    """The run folder's stance.csv rows of ``part``'s target; None without a stance.csv."""
    path = folder / "stance.csv"
    if not path.is_file() or part.empty:
        return None
    try:
        stance = read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, None, f"cannot read the CSV ({exc})",
                         "regenerate it with refusal-audit, or move it away") from exc
    if "target" not in stance:
        return None
    target = str(part["target"].iloc[0]).strip()
    return stance[stance["target"].astype(str).str.strip() == target]


def _targets_of(frame: pd.DataFrame) -> list[str]:
    """Distinct targets in a responses frame."""
    if "target" not in frame:
        return []
    return sorted(frame["target"].astype(str).str.strip().unique())


def _pick(frame: pd.DataFrame, folder: Path, target: str | None) -> tuple[pd.DataFrame, str]:
    """One target's rows; ConfigError when the choice is ambiguous or absent."""
    found = _targets_of(frame)
    if target is None:
        if len(found) != 1:
            raise ConfigError(f"{folder} holds targets {found}: choose them with "
                              "--targets A B")
        target = found[0]
    if target not in found:
        raise ConfigError(f"target {target!r} is not in {folder} (it has {found}): fix --targets")
    return frame[frame["target"].astype(str).str.strip() == target], target


def _select(run_a: Path, run_b: Path | None, targets: tuple[str, str] | None
            ) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    """The two frames to compare and their labels."""
    frame_a = _read_run(run_a)
    frame_b = frame_a if run_b is None else _read_run(run_b)
    if run_b is None and targets is None:
        found = _targets_of(frame_a)
        if len(found) != 2:
            raise ConfigError(f"{run_a} holds targets {found}: compare two with --targets A B, "
                              "or pass a second run folder")
        targets = (found[0], found[1])
    first, second = targets if targets is not None else (None, None)
    part_a, name_a = _pick(frame_a, run_a, first)
    part_b, name_b = _pick(frame_b, run_b or run_a, second)
    if name_a == name_b and run_b is not None:
        return part_a, part_b, run_a.name, run_b.name
    return part_a, part_b, name_a, name_b


def compare(
    run_a: Annotated[Path, typer.Argument(help="a run folder (holds responses.csv)")],
    run_b: Annotated[Path | None, typer.Argument(help="a second run folder (optional)")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV to write")] = _OUTPUT,
    targets: Annotated[tuple[str, str] | None,
                       typer.Option("--targets", help="the two targets to compare: A B")] = None,
) -> None:
    """Compare two runs, or two targets of one run: same prompts → paired, else independent.

    Prints each rate, the difference and the ratio second/first with their 95% intervals; with a
    stance.csv in the run folders, the biased and leaning answer rates too."""
    from audit.stats._compare import compare_runs

    part_a, part_b, label_a, label_b = _select(run_a, run_b, targets)
    table = compare_runs(part_a, part_b, label_a=label_a, label_b=label_b,
                         stance_a=_stance_of(run_a, part_a),
                         stance_b=_stance_of(run_b or run_a, part_b))
    write_csv(table, output)
    for row in table.itertuples():
        typer.echo(f"{row.metric}: {label_a} {_pct(row.estimate_a)} vs {label_b} "
                   f"{_pct(row.estimate_b)} ({row.design}) — {row.verdict}{_evidence(row)}"
                   f"{_ratio_text(row, label_a, label_b)}")
    typer.echo(f"wrote {output}")


def _pct(value: float) -> str:
    """A rate as a percentage; "n/a" when there is none (no units of that kind)."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.2%}"


def _evidence(row: Any) -> str:
    """The difference, its 95% interval and the p-value behind a comparison's verdict."""
    if any(_missing(v) for v in (row.difference, row.ci_low, row.ci_high)):
        return ""
    p = "" if _missing(row.p_value) else f"; p = {row.p_value:.2g} ({row.test})"
    return (f" (difference {_pts(row.difference)}, 95% CI {_pts(row.ci_low)} to "
            f"{_pts(row.ci_high)}{p})")


def _ratio_text(row: Any, label_a: str, label_b: str) -> str:
    """The ratio B/A and its 95% interval, e.g. "; ratio B/A 0.29 (95% CI 0.15 to 0.52)"."""
    if _missing(row.ratio) or math.isinf(row.ratio):
        return ""
    if any(_missing(v) for v in (row.ratio_low, row.ratio_high)):
        return f"; ratio {label_b}/{label_a} {row.ratio:.3g}"
    return (f"; ratio {label_b}/{label_a} {row.ratio:.3g} (95% CI {row.ratio_low:.3g} to "
            f"{row.ratio_high:.3g})")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pts(value: float) -> str:
    """A difference of rates in percentage points, signed."""
    return f"{value * 100:+.2f} pp"


def register(app: typer.Typer) -> None:
    """Add this module's commands (``plan``, ``compare``) to the main app."""
    app.command("plan")(plan)
    app.command("compare")(compare)
