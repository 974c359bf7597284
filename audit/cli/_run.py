"""``refusal-audit run``: audit one or more endpoints and write a run folder."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from audit.cli import _interrupt as interrupt
from audit.cli._runs import print_dry_run, print_run_summary
from audit.config import AuditConfig, load_config
from audit.errors import ConfigError, ThresholdError
from audit.report._console import print_headline
from audit.run._precheck import precheck

Opt = typer.Option


def register(app: typer.Typer) -> None:
    """Add ``run`` to the main app."""
    app.command("run")(run)


def run(
    config_file: Annotated[Path | None, typer.Argument(help="TOML config file (flags override it).")] = None,
    base_url: Annotated[str | None, Opt(help="Endpoint base URL, e.g. http://127.0.0.1:8000/v1 (default: "
                                             "$OPENAI_BASE_URL, as the OpenAI SDK).")] = None,
    model: Annotated[str | None, Opt(help="Model name to audit.")] = None,
    name: Annotated[str | None, Opt(help="Short target name for reports (default: the model).")] = None,
    prompts: Annotated[str | None, Opt(help="Prompt set JSONL (default prompts/contested-v1.jsonl).")] = None,
    concurrency: Annotated[int | None, Opt(help="Requests in flight at most, per target.")] = None,
    max_tokens: Annotated[int | None, Opt(help="Maximum tokens per answer.")] = None,
    temperature: Annotated[float | None, Opt(help="Sampling temperature.")] = None,
    timeout: Annotated[float | None, Opt(help="Seconds a request attempt may take as a whole (default 60).")] = None,
    api_key_env: Annotated[str | None, Opt(help="Env variable holding the API key (default OPENAI_API_KEY).")] = None,
    samples: Annotated[int | None, Opt(help="Samples per prompt (temperature > 0).")] = None,
    sample_pairs: Annotated[int | None, Opt("--sample-pairs", "--sample", help="Audit a stratified sample of N "
                                            "pairs (pairs kept whole; TOML sample_pairs).")] = None,
    seed: Annotated[int | None, Opt(help="Seed for --sample-pairs.")] = None,
    limit: Annotated[int | None, Opt(min=1, help="Only the first N prompts of the file (a pair cut in half "
                                                 "is completed: N + 1 at most).")] = None,
    classify_truncated: Annotated[bool | None, Opt(help="Classify the prefix of answers cut at max_tokens.")] = None,
    max_error_rate: Annotated[float | None, Opt(help="Fail the run (exit 1) above this share of API errors "
                                                     "(default 0.05; 1 never fails).")] = None,
    classifier: Annotated[str | None, Opt(help="rules, judge or ensemble (these two need a judge: a [judge] table "
                                               "or --judge-base-url and --judge-model).")] = None,
    judge_base_url: Annotated[str | None, Opt(help="The judge's endpoint base URL ([judge] base_url).")] = None,
    judge_model: Annotated[str | None, Opt(help="The judge model ([judge] model).")] = None,
    judge_api_key_env: Annotated[str | None, Opt(help="Env variable holding the judge's key ([judge] api_key_env).")] = None,
    reports_dir: Annotated[str | None, Opt(help="Where run folders go (default reports/).")] = None,
    run_id: Annotated[str | None, Opt(help="Name of the run folder (default: UTC time + target).")] = None,
    resume: Annotated[Path | None, Opt(help="Resume this run folder: send only what its journal lacks (its settings "
                                            "come from its run.json; --classifier and --judge-* correct them).")] = None,
    retry_errors: Annotated[bool, Opt(help="With --resume: also re-send requests that ended in an API error.")] = False,
    progress: Annotated[bool, Opt(help="Show progress: a bar on a terminal, a line every 5 s in a log.")] = True,
    dry_run: Annotated[bool, Opt(help="Print what would be sent (requests, estimated tokens); send nothing.")] = False,
    json_out: Annotated[bool, Opt("--json", help="Print a JSON summary on stdout (the table goes to stderr).")] = False,
) -> int:
    """Audit an OpenAI-compatible endpoint for refusals and asymmetric refusals.

    Writes reports/<run-id>/ (journal, CSVs, run.json, report.html) and prints the headline.
    The API key is read from the environment variable named by --api-key-env; never pass it as a flag.
    """
    overrides = {"prompts": prompts, "samples": samples, "sample_pairs": sample_pairs, "seed": seed, "limit": limit,
                 "classify_truncated": classify_truncated, "max_error_rate": max_error_rate,
                 "reports_dir": reports_dir}
    target = {"base_url": base_url, "model": model, "name": name, "concurrency": concurrency,
              "max_tokens": max_tokens, "temperature": temperature, "timeout": timeout,
              "api_key_env": api_key_env}
    judge = {"base_url": judge_base_url, "model": judge_model, "api_key_env": judge_api_key_env}
    classify = {"classifier": classifier, "judge": judge}
    if resume is not None:
        if config_file or run_id or dry_run or any(v is not None for v in (*overrides.values(), *target.values())):
            raise ConfigError("--resume takes the run folder only (its settings are in its run.json), and "
                              "--classifier and --judge-* options to correct how its answers are labelled")
        return execute(None, str(resume), None, progress, retry_errors, resume_changes(classify), json_out)
    if retry_errors:
        raise ConfigError("--retry-errors goes with --resume RUN_DIR")
    config = load_config(config_file, {**overrides, **classify}, target)
    if dry_run:
        return print_dry_run(config, json_out)
    return execute(config, None, run_id, progress, json_out=json_out)


def resume_changes(classify: dict[str, Any]) -> dict[str, Any]:
    """The classifier/judge settings given with --resume (None when none was)."""
    judge = {k: v for k, v in classify["judge"].items() if v is not None}
    changes = {"classifier": classify["classifier"]} if classify["classifier"] is not None else {}
    return {**changes, "judge": judge} if judge else changes


def execute(config: AuditConfig | None, resume_dir: str | None, run_id: str | None, progress: bool,
            retry_errors: bool = False, changes: dict[str, Any] | None = None, json_out: bool = False) -> int:
    """Run the Prefect flow locally and print the headline; ``changes``: corrected classifier
    and judge settings for a resumed run (recorded in its run.json once they pass the checks).
    A resumed run folder is locked from the checks to the reports (``RunFolderBusy``, exit 2,
    when another process is sending to it). ``json_out``: the headline table goes to stderr and
    a JSON summary of the run to stdout (``run --json``)."""
    with resume_lock(resume_dir):
        return run_flow(config, resume_dir, run_id, progress, retry_errors, changes, json_out)


def resume_lock(resume_dir: str | None) -> contextlib.AbstractContextManager[None]:
    """The sending lock of a run folder to resume (none for a new run, whose flow takes it, or
    for a folder without run.json, which the checks reject)."""
    from audit.run._lock import run_lock

    if resume_dir and (Path(resume_dir) / "run.json").is_file():
        return run_lock(Path(resume_dir))
    return contextlib.nullcontext()


def run_flow(config: AuditConfig | None, resume_dir: str | None, run_id: str | None, progress: bool,
             retry_errors: bool = False, changes: dict[str, Any] | None = None, json_out: bool = False) -> int:
    """Check, then run the Prefect flow locally and print the headline (and the JSON summary)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry from an audit
    from audit_flows import local_api

    api = local_api.start()  # without a Prefect API: a temporary one boots while we check and import
    precheck(config, resume_dir, run_id, changes)  # a mistake exits; the server stops at exit (atexit)
    from audit_flows.audit_flow import audit_flow

    params: dict[str, Any] = {"config": config.public_dict() if config else None, "resume_dir": resume_dir,
                              "run_id": run_id, "show_progress": progress,
                              "retry_errors": retry_errors}
    if api is not None:
        warm_up()  # while the temporary server boots (the CLI would otherwise wait idle)
    api = local_api.ready(api)
    try:
        folder = run_folder(config, resume_dir, params)  # an interruption names it
        with local_api.settings(api):
            result = interrupt.run(audit_flow(**params), folder)
    except ThresholdError:
        with table_stream(json_out):
            folder = print_saved_headline(resume_dir, config, params["run_id"])
        print_warnings(folder)
        if json_out:
            print_run_summary(folder)
        raise
    with table_stream(json_out):
        print_headline(result)
    print_warnings(Path(result["run_dir"]))
    if json_out:
        print_run_summary(Path(result["run_dir"]))
    return 0


def run_folder(config: AuditConfig | None, resume_dir: str | None, params: dict[str, Any]) -> Path:
    """The run's folder, known before the flow starts (so that an interruption can name it): a
    new run gets its run id here rather than in the flow."""
    if resume_dir:
        return Path(resume_dir)
    from audit.config import safe_name
    from audit.run._plan import new_run_id

    assert config is not None
    params["run_id"] = params.get("run_id") or new_run_id(config)
    return Path(config.reports_dir) / safe_name(params["run_id"], 80)


def table_stream(json_out: bool) -> contextlib.AbstractContextManager[Any]:
    """Where the headline table goes: stdout, or stderr when stdout carries ``--json``."""
    return contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()


def print_warnings(folder: Path) -> None:
    """The run's warnings (run.json ``warnings``: a target whose requests mostly failed), one
    loud line each on stderr."""
    import json

    try:
        meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    warnings = meta.get("warnings") if isinstance(meta, dict) else None
    for line in warnings or []:
        typer.secho(f"warning: {line}", err=True, fg="yellow", bold=True)


def warm_up() -> None:
    """Import what the flow needs after sending (classifier, statistics, reports: ~1.5 s of
    scipy, statsmodels and jinja2) while the CLI would otherwise wait for Prefect's server."""


def print_saved_headline(resume_dir: str | None, config: AuditConfig | None, run_id: str | None) -> Path:
    """After a failed threshold, the headline of the run as written to its folder (if found);
    return the folder."""
    from audit.csvio import read_csv

    if resume_dir:
        folder = Path(resume_dir)
    elif config and run_id:
        from audit.config import safe_name

        folder = Path(config.reports_dir) / safe_name(run_id, 80)
    else:
        runs = sorted(Path(config.reports_dir).glob("*/summary.csv"), key=lambda p: p.stat().st_mtime) if config else []
        folder = runs[-1].parent if runs else Path("-")
    summary = folder / "summary.csv"
    if summary.is_file():
        s = read_csv(summary)
        rows = s[s["headline"].astype(bool)] if "headline" in s else s
        print_headline({"run_id": folder.name, "run_dir": str(folder), "headline": rows.to_dict("records")})
    return folder
