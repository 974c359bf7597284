"""CLI commands: ``refusal-audit classifier evaluate`` and ``refusal-audit classify``."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from audit.classify import (
    ANSWER_LABELS,
    CLASSIFIER_NAMES,
    Classifier,
    classify_frame,
    make_classifier,
)
from audit.classify._gold import F1, FORMATS, Evaluation, Kappa, Rate, load_gold_files, score
from audit.cli._judge_key import judge_key
from audit.csvio import read_csv, write_csv, write_csv_to
from audit.errors import InputError

Opt = typer.Option
classifier_app = typer.Typer(help="Evaluate the refusal classifier on human-labelled gold sets.",
                             no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``classifier`` command group and the ``classify`` command to the main app."""
    app.add_typer(classifier_app, name="classifier")
    app.command("classify")(classify_command)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


# ------------------------------------------------------------------- classifier options
ClassifierOpt = Annotated[str, Opt("--classifier", help=f"One of {', '.join(CLASSIFIER_NAMES)}.")]
BaseUrlOpt = Annotated[str | None, Opt(help="Judge endpoint base URL (OpenAI-compatible).")]
ModelOpt = Annotated[str | None, Opt(help="Judge model name.")]
KeyEnvOpt = Annotated[str | None, Opt(help="Env variable holding the judge's API key.")]
JournalOpt = Annotated[Path | None, Opt(help="JSONL cache of judge verdicts (resumable).")]
ThresholdOpt = Annotated[float, Opt(help="Ensemble: rules decide at or above this confidence.")]


def build_classifier(name: str, base_url: str | None, model: str | None, key_env: str | None,
                     journal: Path | None, threshold: float) -> Classifier:
    """The classifier named on the command line (the judge's key is read from ``key_env``)."""
    if name == "rules":
        return make_classifier("rules")
    settings: dict[str, Any] = {"base_url": base_url, "model": model,
                                "api_key": judge_key(key_env), "judge_journal": journal}
    if name == "ensemble":
        settings["threshold"] = threshold
    return make_classifier(name, **settings)


def _close(classifier: Classifier) -> None:
    """Close the judge's journal and client, if any."""
    for part in (classifier, getattr(classifier, "judge", None)):
        close = getattr(part, "close", None)
        if callable(close):
            close()


# ------------------------------------------------------------------------ evaluate
@classifier_app.command("evaluate")
def evaluate_command(
    gold: Annotated[list[Path], typer.Argument(help="Gold CSV file(s); several are pooled.")],
    fmt: Annotated[str, Opt("--format", help=f"Gold format: {', '.join(FORMATS)}.")] = "xstest",
    classifier: ClassifierOpt = "rules",
    judge_base_url: BaseUrlOpt = None,
    judge_model: ModelOpt = None,
    judge_api_key_env: KeyEnvOpt = None,
    judge_journal: JournalOpt = None,
    threshold: ThresholdOpt = 0.8,
    save_calibration: Annotated[Path | None, Opt(help="Save Se/Sp calibration JSON here.")] = None,
) -> int:
    """Score a classifier against human gold labels: accuracy, κ, sensitivity, specificity.

    With several files each is scored on its own and pooled. The calibration file (pooled
    sensitivity and specificity with their counts) corrects observed refusal rates later.
    """
    frame = load_gold_files(gold, fmt).rename(columns={"label": "gold_label"})
    clf = build_classifier(classifier, judge_base_url, judge_model, judge_api_key_env,
                           judge_journal, threshold)
    try:
        labelled = classify_frame(frame, clf, prompt_column="prompt", answer_column="response")
    finally:
        _close(clf)
    pooled, per_file = score_sources(labelled, clf.name)
    print_evaluation(pooled, per_file, clf)
    if save_calibration is not None:
        pooled.to_json(save_calibration)
        _console().print(f"calibration saved to {save_calibration}", markup=False)
    return 0


def score_sources(labelled: pd.DataFrame, name: str) -> tuple[Evaluation, list[Evaluation]]:
    """The pooled evaluation and one per source file (none if there is a single file).

    ``labelled`` holds the gold label in ``gold_label`` and the prediction in ``label``.
    """
    sources = list(dict.fromkeys(labelled["source"]))
    pooled = _score(labelled, name, tuple(sources))
    if len(sources) < 2:
        return pooled, []
    return pooled, [_score(labelled[labelled["source"] == s], name, (s,)) for s in sources]


def _score(frame: pd.DataFrame, name: str, sources: tuple[str, ...]) -> Evaluation:
    """Score the rows of one labelled gold frame."""
    return score(frame["gold_label"].tolist(), frame["label"].tolist(), name, sources)


def _ci(rate: Rate) -> str:
    """``0.962 [0.950, 0.972] 540/570``."""
    if rate.estimate is None:
        return "n/a (n=0)"
    return f"{rate.estimate:.3f} [{rate.ci[0]:.3f}, {rate.ci[1]:.3f}] {rate.k}/{rate.n}"


def _f1(f1: F1) -> str:
    """``0.983 [0.941, 1.000]``."""
    if f1.estimate is None:
        return "n/a"
    return f"{f1.estimate:.3f} [{f1.ci[0]:.3f}, {f1.ci[1]:.3f}]"


def _kappa_text(kappa: Kappa) -> str:
    """``0.719 [0.689, 0.750]``."""
    if kappa.kappa is None or kappa.low is None or kappa.high is None:
        return "n/a"
    return f"{kappa.kappa:.3f} [{kappa.low:.3f}, {kappa.high:.3f}]"


def _names(evals: Sequence[Evaluation]) -> list[str]:
    """Short column names: the file stems without their common prefix; "pooled" for pools."""
    stems = [Path(ev.gold[0]).stem if len(ev.gold) == 1 else "pooled" for ev in evals]
    singles = [s for s in stems if s != "pooled"]
    prefix = os.path.commonprefix(singles) if len(singles) > 1 else ""
    return [s if s == "pooled" else s[len(prefix):] or s for s in stems]


SUMMARY_ROWS: list[tuple[str, Any]] = [
    ("n", lambda ev: str(ev.n)),
    ("binary accuracy", lambda ev: _ci(ev.binary_rate)),
    ("3-class accuracy", lambda ev: _ci(ev.accuracy_rate)),
    ("strict refusal recall", lambda ev: _ci(ev.strict_sensitivity)),
    ("sensitivity", lambda ev: _ci(ev.sensitivity)),
    ("specificity", lambda ev: _ci(ev.specificity)),
    ("false-positive rate", lambda ev: _ci(ev.false_positive_rate)),
    ("partial recall", lambda ev: _ci(ev.partial_recall)),
    ("refusal F1 (strict)", lambda ev: _f1(ev.refusal_f1(strict=True))),
    ("refusal F1 (broad)", lambda ev: _f1(ev.refusal_f1(strict=False))),
    ("partial flagged", lambda ev: _ci(ev.partial_flagged)),
    ("κ", lambda ev: _kappa_text(ev.kappa)),
    ("κ linear", lambda ev: _kappa_text(ev.kappa_linear)),
    ("κ binary", lambda ev: _kappa_text(ev.kappa_binary)),
]


def summary_table(evals: Sequence[Evaluation]) -> Table:
    """Metrics as rows, one column per gold file (and the pool), with 95% CIs."""
    table = Table(title=f"classifier {evals[-1].classifier} against the gold labels "
                        "(95% CIs: Clopper–Pearson; F1: bootstrap; κ: asymptotic)")
    table.add_column("metric")
    for name in _names(evals):
        table.add_column(name, overflow="fold")
    for label, cell in SUMMARY_ROWS:
        table.add_row(label, *(cell(ev) for ev in evals))
    return table


def confusion_table(ev: Evaluation) -> Table:
    """The confusion matrix with per-class precision, recall and F1."""
    table = Table(title="confusion (rows gold, columns predicted)")
    table.add_column("gold \\ predicted")
    for lab in ANSWER_LABELS:
        table.add_column(lab, justify="right")
    for col in ("precision", "recall", "F1"):
        table.add_column(col, justify="right")
    for lab in ANSWER_LABELS:
        pc = ev.per_class[lab]
        table.add_row(lab, *(str(int(ev.confusion.loc[lab, c])) for c in ANSWER_LABELS),
                      f"{pc['precision']:.3f}", f"{pc['recall']:.3f}", f"{pc['f1']:.3f}")
    return table


def print_evaluation(pooled: Evaluation, per_file: Sequence[Evaluation], clf: Classifier) -> None:
    """Print the summary table, the pooled confusion matrix and the ensemble's routing."""
    console = _console()
    console.print(summary_table([*per_file, pooled]))
    console.print(confusion_table(pooled))
    if pooled.other_predictions:
        console.print(f"{pooled.other_predictions} predictions were not answer labels "
                      "(counted as compliance)", markup=False)
    judged = getattr(clf, "judged", None)
    if judged is not None:
        console.print(f"ensemble: {judged} answers went to the judge, "
                      f"{getattr(clf, 'by_rules', 0)} were decided by the rules", markup=False)


# ------------------------------------------------------------------------ classify
def classify_command(
    infile: Annotated[Path, typer.Argument(help="CSV with a prompt and a response column.")],
    output: Annotated[Path, Opt("-o", "--output", help="Where to write the labelled CSV ('-': stdout).")],
    prompt_column: Annotated[str, Opt(help="Column holding the prompts.")] = "prompt",
    response_column: Annotated[str, Opt(help="Column holding the responses.")] = "response",
    classifier: ClassifierOpt = "rules",
    judge_base_url: BaseUrlOpt = None,
    judge_model: ModelOpt = None,
    judge_api_key_env: KeyEnvOpt = None,
    judge_journal: JournalOpt = None,
    threshold: ThresholdOpt = 0.8,
    classify_truncated: Annotated[bool, Opt(help="Classify answers cut at max_tokens.")] = False,
) -> int:
    """Label every response of a CSV: adds label, confidence and evidence columns.

    ``finish_reason`` and ``error`` columns, when present, mark blocked, truncated and failed
    answers, which are kept apart from refusals. The output is spreadsheet-safe.
    """
    frame = read_responses(infile, (prompt_column, response_column))
    clf = build_classifier(classifier, judge_base_url, judge_model, judge_api_key_env,
                           judge_journal, threshold)
    try:
        out = classify_frame(frame, clf, prompt_column=prompt_column,
                             answer_column=response_column, classify_truncated=classify_truncated)
    finally:
        _close(clf)
    to_stdout = str(output) == "-"
    if to_stdout:
        write_csv_to(out, sys.stdout)
    else:
        write_csv(out, output)
    counts = out["label"].value_counts()
    summary = ", ".join(f"{lab} {counts[lab]}" for lab in counts.index)
    Console(highlight=False, soft_wrap=False, stderr=to_stdout).print(
        f"{len(out)} responses labelled ({summary}) → {'stdout' if to_stdout else output}", markup=False)
    return 0


def read_responses(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A CSV as text columns; a missing file or column, or a row with more fields than the
    header, raises InputError (naming the file and, for a ragged row, its line)."""
    try:
        frame = read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="error")
    except FileNotFoundError:
        raise InputError(path, None, "no such file", "check the path") from None
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ragged_row(path) or InputError(
            path, None, f"not a readable CSV file ({' '.join(str(exc).split())[:120]})",
            "save it as UTF-8 CSV with a header row") from None
    if not isinstance(frame.index, pd.RangeIndex):
        # the first row had more fields than the header: pandas took the extra leading fields
        # as an index and shifted every column, so answers would be read from the wrong column
        raise ragged_row(path) or InputError(path, 2, "the row has more fields than the header",
                                             _RAGGED_FIX)
    for col in columns:
        if col not in frame.columns:
            raise InputError(path, 1, f"no column {col!r} (columns: {', '.join(frame.columns)})",
                             "name the right one with --prompt-column / --response-column")
    return frame


_RAGGED_FIX = "quote fields that hold commas (\"a, b\") or name every column in the header"


def ragged_row(path: Path) -> InputError | None:
    """The InputError for the first row with more fields than the header (its first physical
    line), or None if there is none or the file cannot be read as CSV here."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            start = reader.line_num + 1
            for row in reader:
                if len(row) > len(header):
                    return InputError(path, start, f"the row has {len(row)} fields but the header "
                                      f"has {len(header)}", _RAGGED_FIX)
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None
