"""CLI command ``report``: re-render report.html from a run folder; ``--history``: index.html."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from audit.errors import ConfigError


def report(
    run_dir: Annotated[
        Path | None, typer.Argument(help="Run folder, e.g. reports/<run-id>.")
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="Write index.html: all runs and trends.")
    ] = False,
    reports_root: Annotated[
        Path, typer.Option("--reports-root", "--reports-dir", help="Folder holding the run folders.")
    ] = Path("reports"),
) -> None:
    """Re-render report.html from a run folder's files (no endpoint needed).

    --history: write <reports-root>/index.html, every run with its trends.
    With a RUN_DIR and --history, first add that run to <reports-root>/history.csv.
    A run stopped between its statistics and its reports (run.json status "reporting") is
    finished: report.html, then its final status in run.json, then its history rows.
    """
    from audit.report._history import append_history, render_index  # pandas, scipy: only when used
    from audit.report._html import render_report
    from audit.run._finish import complete_reports
    from audit.run._stance_stats import add_missing_stance

    if run_dir is None and not history:
        raise ConfigError(
            "report: give a RUN_DIR (e.g. reports/<run-id>) or --history"
            " — see 'refusal-audit report --help'"
        )
    if run_dir is not None:
        if add_missing_stance(run_dir):  # a judged folder whose summary.csv lacks the stance figures
            typer.echo(f"added the stance figures of stance.csv to {run_dir / 'summary.csv'}")
        if done := complete_reports(run_dir):  # a run stopped before its reports: finish it
            typer.echo(f"wrote {done}; the run had stopped before its reports, run.json now has its final status")
        else:
            typer.echo(f"wrote {render_report(run_dir)}")
        if history:
            append_history(run_dir, reports_root)
    if history:
        typer.echo(f"wrote {render_index(reports_root)}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("report")(report)
