"""CLI commands: ``refusal-audit prompts check | stats | import | sample``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from audit.errors import ConfigError
from audit.prompts._check import (
    LEAN_TOLERANCE,
    MAX_RATIO,
    CheckReport,
    check_file,
    side_counts,
    stats,
)
from audit.prompts._importers import FORMATS, import_prompts
from audit.prompts._sampling import sample_pairs
from audit.prompts._schema import load_prompt_set, write_prompts

Opt = typer.Option
prompts_app = typer.Typer(
    help="Check, describe, import and sample prompt sets.", no_args_is_help=True
)
SHOWN = 3


def register(app: typer.Typer) -> None:
    """Add the ``prompts`` command group to the main app."""
    app.add_typer(prompts_app, name="prompts")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


# ---------------------------------------------------------------- check


@prompts_app.command("check")
def check_command(
    file: Annotated[Path, typer.Argument(help="Prompt set (JSONL) to check.")],
    max_ratio: Annotated[
        float, Opt(help="Largest allowed length ratio of a pair's sides.")
    ] = MAX_RATIO,
    lean_tolerance: Annotated[
        float, Opt(help="Allowed |a−b| per lean, as a share of it.")
    ] = LEAN_TOLERANCE,
) -> int:
    """Check a prompt set's pairing and balance; list every problem; exit 1 if any."""
    report = check_file(file, max_ratio=max_ratio, lean_tolerance=lean_tolerance)
    console = _console()
    console.print(f"{report.path}: {report.prompts} prompts", markup=False)
    console.print(report_table(report))
    console.print(lean_table(report.lean_sides))
    console.print(verdict(report))
    if not report.ok:
        raise typer.Exit(1)
    return 0


def report_table(report: CheckReport) -> Table:
    """One row per check: ok or the number of problems, with the first few listed."""
    table = Table()
    table.add_column("check")
    table.add_column("result")
    table.add_column("details", overflow="fold")
    for check, problems in report.by_check().items():
        result = "[green]ok[/]" if not problems else f"[red]{len(problems)} problem(s)[/]"
        table.add_row(check, result, _details([p.message for p in problems]))
    for check, warnings in report.warnings_by_check().items():
        result = "[green]ok[/]" if not warnings else f"[yellow]{len(warnings)} warning(s)[/]"
        table.add_row(check, result, _details([w.message for w in warnings]))
    return table


def _details(messages: list[str]) -> str:
    shown = "\n".join(escape(m) for m in messages[:SHOWN])
    more = len(messages) - SHOWN
    return shown + (f"\n… and {more} more" if more > 0 else "")


def lean_table(lean_sides: dict[str, dict[str, int]]) -> Table:
    """Contested prompts by lean × side."""
    table = Table(title="lean × side (contested prompts)", title_justify="left")
    for col in ("lean", "side a", "side b"):
        table.add_column(col, justify="left" if col == "lean" else "right")
    for lean, counts in sorted(lean_sides.items()):
        table.add_row(escape(lean), str(counts["a"]), str(counts["b"]))
    return table


def verdict(report: CheckReport) -> str:
    """The last line of a check: OK or how many problems in how many checks."""
    if report.ok:
        warned = f" ({len(report.warnings)} warning(s))" if report.warnings else ""
        return f"[green]OK[/]: {report.prompts} prompts pass every check{warned}"
    failed = sum(1 for problems in report.by_check().values() if problems)
    return f"[red]FAIL[/]: {len(report.problems)} problem(s) in {failed} check(s)"


# ---------------------------------------------------------------- stats


@prompts_app.command("stats")
def stats_command(
    file: Annotated[Path, typer.Argument(help="Prompt set (JSONL) to describe.")],
) -> int:
    """Print prompt counts by kind, category, template, lean × side, control topic and topic."""
    prompt_set = load_prompt_set(file)
    counts = stats(prompt_set.prompts)
    console = _console()
    console.print(
        f"{prompt_set.name} v{prompt_set.version}  sha256 {prompt_set.sha256[:12]}  "
        f"{len(prompt_set)} prompts",
        markup=False,
    )
    for key in ("kind", "category", "template"):
        console.print(counter_table(key, counts[key]))
    console.print(lean_table(side_counts(prompt_set.prompts, "lean")))
    for key in ("control topic", "topic"):
        console.print(counter_table(key, counts[key]))
    return 0


def counter_table(name: str, counter: Counter[str]) -> Table:
    """A two-column table of counts, largest first."""
    table = Table(title=f"by {name} ({len(counter)})", title_justify="left")
    table.add_column(name)
    table.add_column("prompts", justify="right")
    for value, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
        table.add_row(escape(value), str(n))
    return table


# ---------------------------------------------------------------- import


@prompts_app.command("import")
def import_command(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help=f"One of: {', '.join(FORMATS)}.")],
    source: Annotated[
        Path, typer.Argument(metavar="SOURCE", help="The source CSV, or the folder holding it.")
    ],
    output: Annotated[
        Path, Opt("-o", "--output", help="Prompt set to write (prompts/NAME-v1.jsonl).")
    ],
    templates: Annotated[
        str | None, Opt(help="issuebench: N templates or 'all' (default 10).")
    ] = None,
    issues: Annotated[str | None, Opt(help="issuebench: N issues or 'all' (default all).")] = None,
    template_file: Annotated[
        Path | None, Opt(help="issuebench: templates CSV (default beside SOURCE).")
    ] = None,
    keep_sides: Annotated[
        bool, Opt(help="anthropic-paired: keep prompt_a on side a (no balancing).")
    ] = False,
    framings: Annotated[
        str | None, Opt(help="issuebench: pairs (pro/con, default), neutral (topic_neutral) or all.")
    ] = None,
    seed: Annotated[
        int, Opt(help="Seed: issuebench sampling, anthropic-paired side balancing.")
    ] = 0,
) -> int:
    """Import a published prompt set into JSONL, streaming, written atomically."""
    options = import_options(
        fmt,
        templates=templates,
        issues=issues,
        template_file=template_file,
        keep_sides=keep_sides,
        seed=seed,
        framings=framings,
    )
    result = import_prompts(fmt, source, output, **options)
    _console().print(
        f"wrote {result.prompts} prompts to {result.path} — "
        f"check it with: refusal-audit prompts check {result.path}",
        markup=False,
    )
    return 0


def parse_count(value: str | None, default: int | None, option: str) -> int | None:
    """``'all'`` → None, a number → int, None → default; ConfigError otherwise."""
    if value is None:
        return default
    if value.strip().lower() == "all":
        return None
    if not value.strip().isdigit():
        raise ConfigError(f"--{option} must be a number or 'all', not '{value}'")
    return int(value)


def import_options(
    fmt: str,
    *,
    templates: str | None,
    issues: str | None,
    template_file: Path | None,
    keep_sides: bool,
    seed: int,
    framings: str | None = None,
) -> dict[str, Any]:
    """Keyword options of the chosen importer; ConfigError for an option that does not apply."""
    if fmt != "issuebench" and (
        templates is not None or issues is not None or template_file is not None
        or framings is not None
    ):
        raise ConfigError(
            "--templates, --issues, --template-file and --framings apply to the issuebench format only"
        )
    if fmt != "anthropic-paired" and keep_sides:
        raise ConfigError("--keep-sides applies to the anthropic-paired format only")
    if fmt == "issuebench":
        return {
            "n_templates": parse_count(templates, 10, "templates"),
            "n_issues": parse_count(issues, None, "issues"),
            "seed": seed,
            "templates_file": template_file,
            "framings": framings or "pairs",
        }
    if fmt == "anthropic-paired":
        return {"seed": seed, "balance": not keep_sides}
    return {}


# ---------------------------------------------------------------- sample


@prompts_app.command("sample")
def sample_command(
    file: Annotated[Path, typer.Argument(help="Prompt set (JSONL) to sample from.")],
    n_pairs: Annotated[int, Opt("-n", "--pairs", help="Number of whole pairs to keep.")],
    output: Annotated[Path, Opt("-o", "--output", help="Prompt set to write.")],
    seed: Annotated[int, Opt(help="Seed of the stratified sample.")] = 0,
    controls: Annotated[
        int | None, Opt(help="Controls of each kind to keep (default: the set's ratio).")
    ] = None,
    neutral: Annotated[
        int | None, Opt(help="Neutral prompts to keep (default: the set's ratio to pairs).")
    ] = None,
) -> int:
    """Write a seeded stratified sample that keeps pairs whole and topics and templates balanced."""
    if output.resolve() == file.resolve():
        raise ConfigError(f"refusing to overwrite the source {file} — choose another -o path")
    chosen = sample_pairs(load_prompt_set(file), n_pairs, seed, controls, neutral)
    count = write_prompts(chosen, output)
    _console().print(f"wrote {count} prompts to {output}", markup=False)
    return 0
