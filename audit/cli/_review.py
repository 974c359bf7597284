"""CLI command ``review``: write a run's flagged pairs to a review CSV, or fold a filled one in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from audit.errors import ConfigError, ThresholdError

Opt = typer.Option


def review(
    run_dir: Annotated[Path, typer.Argument(help="Run folder, e.g. reports/<run-id>.")],
    output: Annotated[Path | None, Opt("-o", "--output", help="Where to write the review CSV (default "
                                       "RUN_DIR/review.csv; '-' for stdout).")] = None,
    apply: Annotated[Path | None, Opt("--apply", help="A filled review CSV: its human labels replace the "
                                      "classifier's, and the figures, claims and report are recomputed.")] = None,
    below: Annotated[float | None, Opt("--below", min=0.0, max=1.0, help="Flag answers whose classifier "
                                       "confidence is below this: near the decision boundary (default 0.7).")] = None,
) -> int:
    """Human review of the answers the figures rest on most.

    Without --apply: write the flagged mirrored pairs (asymmetric pairs, and pairs with a side
    whose classifier confidence is below --below) to a review CSV: both prompts, both answers,
    the classifier's labels and evidence, and empty human_label_a / human_label_b columns (filled
    for answers a human labelled already). Fill those with compliance, partial_refusal or refusal
    (blank: keep the classifier's label); reviewer and note are optional.

    With --apply FILE: store its labels in RUN_DIR/human_labels.csv (they also hold for a later
    'run --resume' and 'report'), relabel, and recompute the statistics, claims and report.html.
    Exit 1 when a threshold is then breached, as 'run' does.
    """
    if apply is not None:
        if output is not None or below is not None:
            raise ConfigError("review: -o and --below go without --apply (applying writes RUN_DIR/human_labels.csv "
                              "and recomputes the run)")
        return apply_file(run_dir, apply)
    from audit.run._review import NEAR_BOUNDARY, write_review

    below = NEAR_BOUNDARY if below is None else below
    path, sheet = write_review(run_dir, output, below)
    if path is None:
        return 0
    asym = int(sheet["flagged"].str.contains("asymmetric").sum())
    near = int(sheet["flagged"].str.contains("near the boundary").sum())
    done = int(sheet["flagged"].str.contains("reviewed").sum())
    typer.echo(f"wrote {path}: {len(sheet)} pair(s) to review ({asym} asymmetric, {near} with an answer near the "
               f"decision boundary (confidence < {below:g}), {done} reviewed already)")
    if len(sheet):
        typer.echo(f"fill human_label_a / human_label_b, then: refusal-audit review {run_dir} --apply {path}")
    return 0


def apply_file(run_dir: Path, path: Path) -> int:
    """``review --apply``: fold the labels in, print what changed and the new headline."""
    from audit.report._console import print_headline
    from audit.run._plan import resume_plan
    from audit.run._review import apply_review
    from audit.run._send import resolve_judge_key

    plan = resume_plan(run_dir)
    outcome = apply_review(plan, path, resolve_judge_key(plan.config, os.environ))
    typer.echo(f"applied {path}: {outcome.updated} label(s) new or changed; {outcome.labels} answer(s) now carry "
               f"a human label, {outcome.changed} of them changed from the classifier's label "
               f"(kept in {run_dir / 'human_labels.csv'})")
    print_headline(outcome.result)
    if outcome.problems:
        raise ThresholdError("; ".join(outcome.problems))
    return 0


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("review")(review)
