"""CLI commands: ``plan`` (sample size for a claim) and ``compare`` (two runs or two targets)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from audit.csvio import write_csv
from audit.errors import ConfigError, InputError

if TYPE_CHECKING:  # scipy and statsmodels load when a command runs, not when the CLI starts
    from audit import power as pw
    from audit.claims import Claim

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
    from audit import power as pw

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
                power: float) -> list[str]:
    """The text printed by ``plan``."""
    unit = claim.unit
    return [
        f"claim: {claim.text}   expected rate: {expected:.2%}   power: {power:.0%}",
        f"{unit} needed without clustering: {need:,}",
        f"{unit} needed with design effect {plan.design_effect:g}: {plan.units:,}",
        (f"prompts needed: {plan.prompts:,} ({plan.pairs:,} mirrored pairs, "
         f"{plan.samples} sample(s) per prompt)"),
        f"layout: {plan.topics:,} topics x {plan.templates} templates (2 sides each)",
    ]


def plan(
    claim: Annotated[str, typer.Option("--claim", help='e.g. "refusal_rate < 0.02" or '
                                       '"refusal_rate ≈ 7% ± 2%"')],
    expected: Annotated[str, typer.Option("--expected", help="the rate you expect, e.g. 0.01 "
                                          "or 1%")],
    power: Annotated[float, typer.Option("--power", help="target power")] = 0.8,
    deff: Annotated[float, typer.Option("--deff", help="design effect of topics × templates × "
                                        "samples (1 = independent answers)")] = 1.0,
    alpha: Annotated[float, typer.Option("--alpha", help="one-sided test level")] = 0.05,
    margin: Annotated[str, typer.Option("--margin", help="equivalence margin for ≈ "
                                        "claims")] = "",
    samples: Annotated[int, typer.Option("--samples", help="samples per prompt")] = 1,
    templates: Annotated[int, typer.Option("--templates", help="templates (pairs) per "
                                           "topic")] = 6,
) -> None:
    """How many prompts an audit needs to settle a claim (exact binomial power).

    Pass the design effect of your topics × templates × samples design (methods note §2).
    """
    if not (0 < power < 1 and 0 < alpha < 1 and deff >= 1 and samples >= 1 and templates >= 1):
        raise ConfigError("--power and --alpha must lie in (0, 1), --deff ≥ 1, --samples and "
                          "--templates ≥ 1: fix the option values")
    from audit.claims import parse_claim

    margin_value = _proportion(margin, "--margin") if margin else None
    parsed = parse_claim(claim, margin=margin_value)
    rate = _proportion(expected, "--expected")
    need = _units_needed(parsed, rate, power, alpha)
    from audit import power as pw

    layout = pw.plan_design(need, deff=deff, samples=samples, templates=templates,
                            unit=parsed.unit)
    for line in _plan_lines(parsed, rate, need, layout, power):
        typer.echo(line)


def _read_run(folder: Path) -> pd.DataFrame:
    """``responses.csv`` of a run folder, all columns as text."""
    path = folder / "responses.csv"
    if not path.is_file():
        raise InputError(path, None, "no responses.csv here",
                         "pass a run folder (reports/<run-id>/) of a finished run")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, None, f"cannot read the CSV ({exc})",
                         "regenerate it with refusal-audit") from exc


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
    """Compare two runs, or two targets of one run: same prompts → paired, else independent."""
    from audit.compare import compare_runs

    part_a, part_b, label_a, label_b = _select(run_a, run_b, targets)
    table = compare_runs(part_a, part_b, label_a=label_a, label_b=label_b)
    write_csv(table, output)
    for row in table.itertuples():
        typer.echo(f"{row.metric}: {label_a} {row.estimate_a:.2%} vs {label_b} "
                   f"{row.estimate_b:.2%} ({row.design}) — {row.verdict}")
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add this module's commands (``plan``, ``compare``) to the main app."""
    app.command("plan")(plan)
    app.command("compare")(compare)
