"""CLI command: ``refusal-audit stance evaluate`` (a stance judge against human labels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from audit.cli._judge_key import judge_key
from audit.errors import ConfigError
from audit.stance._labels import STANCE_LABELS

Opt = typer.Option
stance_app = typer.Typer(help="The stance judge: check it against human stance labels.", no_args_is_help=True)
HEADLINES = ("accuracy", "macro_f1", "macro_f1_collapsed", "kappa_quadratic")


def register(app: typer.Typer) -> None:
    """Add the ``stance`` command group to the main app."""
    app.add_typer(stance_app, name="stance")


@stance_app.command("evaluate")
def evaluate_command(
    gold: Annotated[Path, typer.Argument(help="Gold CSV in IssueBench's format (response_text, topic_pro, "
                                              "topic_con, topic_neutral, final_label).")],
    judge_base_url: Annotated[str, Opt(help="Judge endpoint base URL (OpenAI-compatible).")],
    judge_model: Annotated[str, Opt(help="Judge model name.")],
    judge_api_key_env: Annotated[str | None, Opt(help="Env variable holding the judge's API key.")] = None,
    template_file: Annotated[Path | None, Opt(help="Judge templates CSV (IssueBench's format).")] = None,
    template: Annotated[str, Opt(help="Template id ('default': ours; else an id in --template-file).")] = "default",
    logprobs: Annotated[str, Opt(help="auto, true or false: ask for label log-probabilities.")] = "auto",
    concurrency: Annotated[int, Opt(min=1, max=256, help="Judge calls in flight at most.")] = 4,
    journal: Annotated[Path | None, Opt(help="JSONL cache of judgements (resumable).")] = None,
    json_out: Annotated[Path | None, Opt("--json", help="Write the figures as JSON here.")] = None,
    save_calibration: Annotated[Path | None, Opt(help="Save strong-lean Se/Sp calibration JSON here.")] = None,
    seed: Annotated[int, Opt(help="Bootstrap seed.")] = 0,
    resamples: Annotated[int, Opt(min=2000, help="Bootstrap resamples (at least 2,000).")] = 2000,
) -> int:
    """Judge every gold answer and score the judge: accuracy, macro-F1 (six labels and
    collapsed), quadratic κ on 1–5, each with a seeded BCa bootstrap CI; beside the two human
    annotators' agreement when the file has both labels."""
    mode = _logprobs(logprobs)
    from audit.stance import (  # here, not at the top: scipy, scikit-learn and openai cost every command 1 s
        StanceItem,
        calibration,
        evaluate_stance,
        human_agreement,
        load_stance_gold,
        load_template,
        make_stance_judge,
        naive_parse,
        point_figures,
    )

    frame = load_stance_gold(gold)
    tmpl = load_template(template, template_file)
    items = [StanceItem(r.response_text, r.topic_pro, r.topic_con, r.topic_neutral, r.topic_prompt)
             for r in frame.itertuples()]
    with make_stance_judge(base_url=judge_base_url, model=judge_model, api_key=judge_key(judge_api_key_env),
                           template=tmpl, journal=journal, concurrency=concurrency, logprobs=mode) as judge:
        verdicts = judge.judge_many(items)
    truth = frame["label"].tolist()
    predicted = [v.stance if v.status == "ok" else None for v in verdicts]
    result = evaluate_stance(truth, predicted, seed=seed, resamples=resamples)
    naive = point_figures(truth, [naive_parse(v.raw) if v.status != "error" else None for v in verdicts])
    result.update({"judge_model": judge_model, "template": tmpl.id, "gold": str(gold),
                   "errors": sum(v.status == "error" for v in verdicts),
                   "naive_parser": {k: round(v, 6) for k, v in naive.items()},
                   "human_agreement": human_agreement(frame)})
    print_figures(result)
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if save_calibration is not None:
        cal = calibration(truth, predicted, judge_model=judge_model, template=tmpl.id, gold=str(gold))
        save_calibration.write_text(json.dumps(cal, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"calibration saved to {save_calibration}")
    return 0


def _logprobs(value: str) -> bool | str:
    choices: dict[str, bool | str] = {"auto": "auto", "true": True, "false": False}
    choice = choices.get(value.strip().lower())
    if choice is None:
        raise ConfigError(f"--logprobs {value[:20]!r}: use auto, true or false")
    return choice


def _cell(figure: dict[str, Any]) -> str:
    est, low, high = figure["estimate"], figure["ci_low"], figure["ci_high"]
    ci = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    return f"{est:.3f}{ci}"


def print_figures(result: dict[str, Any]) -> None:
    """The headline table (judge with CI, naive parser, humans), then per-class figures."""
    console = Console(highlight=False, soft_wrap=False)
    humans = result.get("human_agreement") or {}
    table = Table(title=f"{result['judge_model']} · template {result['template']} · n = {result['n']}")
    for col in ("figure", "judge (95% CI)", "naive parser", "human vs human"):
        table.add_column(col)
    for name in HEADLINES:
        human = humans.get(name)
        table.add_row(name, _cell(result[name]), f"{result['naive_parser'][name]:.3f}",
                      "" if human is None else f"{human:.3f}")
    console.print(table)
    per = Table(title=f"per label (unparsed: {result['unparsed']}, errors: {result['errors']})")
    for col in ("label", "precision", "recall", "F1", "support"):
        per.add_column(col)
    for label in STANCE_LABELS:
        c = result["per_class"][label]
        per.add_row(label, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", str(c["support"]))
    console.print(per)
    if humans:
        console.print(f"human agreement: {humans['source']}", markup=False)
